"""The declarative gateway."""
