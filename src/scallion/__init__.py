"""scallion."""
