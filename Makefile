# The two quick-start commands (README): `make demo` and `make test`.
# Each installs what it needs into .venv first.

.PHONY: demo test lint bench bench-quick bench-bff

demo:
	@scripts/bootstrap.sh all
	.venv/bin/scallion demo

test:
	@scripts/bootstrap.sh dev,bench
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint:
	@scripts/bootstrap.sh dev
	.venv/bin/ruff check src tests bench examples
	.venv/bin/mypy

bench-quick:
	@scripts/bootstrap.sh dev,bench
	@scripts/ensure-bench-tools.sh
	.venv/bin/python -m bench http --quick

bench:
	@scripts/bootstrap.sh dev,bench
	@scripts/ensure-bench-tools.sh
	.venv/bin/python -m bench http

bench-bff:
	@scripts/bootstrap.sh dev,bench
	@scripts/ensure-bench-tools.sh
	.venv/bin/python -m bench bff
