# The two commands: `make run` (install, build, start the gateway with a demo setup) and
# `make test` (install, build with warnings as errors, run every test, then the sanitizer build).
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8080
DATA       ?= ./data
CMAKE_ARGS ?=

.PHONY: deps build run test test-fast test-sanitize bench clean format

deps:
	@bash tools/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIANSHU_WERROR=ON $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/tianshu serve --data $(DATA) --listen $(LISTEN)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

$(BUILD_ASAN)/build.ninja:
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTIANSHU_WERROR=ON -DTIANSHU_SANITIZE=ON \
	  -DTIANSHU_BUILD_BENCH=OFF -DTIANSHU_BUILD_PANEL=OFF $(CMAKE_ARGS)

# The sanitizer build runs the unit tests (address + undefined behaviour).
test-sanitize: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) --timeout 900 -L unit

test: test-sanitize test-fast

bench: build
	bash tests/bench/run_all.sh $(BUILD)

format:
	find host sdk plugins tests -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
