# The two commands of the README. Each one sets up what it needs first.
.PHONY: serve test lint bench sample

serve:
	scripts/setup.sh serve
	GEOGRID_SAMPLE_REPORTS=$${GEOGRID_SAMPLE_REPORTS:-true} \
	GEOGRID_DEMO_DRAFT="$${GEOGRID_DEMO_DRAFT-330399001010:data/boundaries/survey-2027.csv:2027 年度网格调整}" \
	.venv/bin/python -m web

test:
	scripts/setup.sh test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench:
	scripts/setup.sh test
	.venv/bin/python bench/run.py

sample:
	.venv/bin/python scripts/make_sample_district.py --out data/boundaries
