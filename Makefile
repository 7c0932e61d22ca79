# ptelab: `make run` and `make test` do all the set-up on a fresh Debian
# machine. Missing Debian packages are installed with apt-get when run as
# root; otherwise the command that would install them is printed.

DEBIAN_PACKAGES := gcc make pkg-config meson ninja-build libcriterion-dev liblua5.4-dev \
                   clang libclang-rt-14-dev libzstd-dev valgrind
FUZZ_SECONDS ?= 20
EXAMPLES := $(wildcard examples/*.case)
SCENARIOS := $(wildcard examples/*.lua)

.PHONY: all deps build run test test-normal test-asan test-release fuzz bench clean

all: build

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "ptelab needs these Debian packages:$$missing"; \
	    echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

build/build.ninja: | deps
	meson setup build

build-asan/build.ninja: | deps
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args=-fno-sanitize-recover=all

build-fuzz/build.ninja: | deps
	CC=clang meson setup build-fuzz -Dfuzz=true

build: deps build/build.ninja
	ninja -C build

# The main job: a real program (ls -la /usr/bin) recorded under Valgrind,
# its replay report and its fault curve; then the walk examples explained
# and the kernel scenarios run.
run: build
	@if command -v valgrind >/dev/null 2>&1; then \
	  echo "== recording 'ls -la /usr/bin' into build/ls.pltrace (under valgrind)"; \
	  ./build/ptelab trace record -o build/ls.pltrace -- ls -la /usr/bin >build/ls.record.log || \
	    { cat build/ls.record.log; exit 1; }; \
	  grep -E '^(recorded|wrote) ' build/ls.record.log; \
	  echo "== ptelab trace replay build/ls.pltrace"; \
	  ./build/ptelab trace replay build/ls.pltrace || exit 1; \
	  echo "== ptelab trace curve build/ls.pltrace"; \
	  ./build/ptelab trace curve build/ls.pltrace --svg build/ls-curve.svg --csv build/ls-curve.csv --log-x || exit 1; \
	  echo "fault curve plot: $(CURDIR)/build/ls-curve.svg (data: $(CURDIR)/build/ls-curve.csv)"; \
	else \
	  echo "valgrind is missing: no real-program trace recorded (install it: sudo apt-get install valgrind)"; \
	fi
	@for f in $(EXAMPLES); do echo "== $$f"; ./build/ptelab walk --explain $$f || exit 1; done
	@for f in $(SCENARIOS); do echo "== $$f"; ./build/ptelab run $$f || exit 1; done

test: deps test-normal test-asan test-release fuzz
	@echo "all test suites: $$(( $$(cat build/.passed) + $$(cat build-asan/.passed) )) passed, 0 failed"

# meson test's status is lost in the pipe to tee (sh has no pipefail): the
# summary it logs decides. Any failed, timed-out or unexpectedly passing
# suite fails the target.
CHECK_LOG = awk '/^(Fail|Timeout|Unexpected Pass):/ && $$NF != 0 {bad = 1} /^Ok:/ {ok = $$2} \
	END {if (bad || ok == "") {print "test suites failed: see above"; exit 1} print ok > out}'

test-normal: build/build.ninja
	ninja -C build
	meson test -C build --print-errorlogs | tee build/test.log
	@$(CHECK_LOG) out=build/.passed build/test.log

test-asan: build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  meson test -C build-asan --print-errorlogs | tee build-asan/test.log
	@$(CHECK_LOG) out=build-asan/.passed build-asan/test.log

# The release build (asserts off, as make bench builds) must compile too:
# a variable only an assert reads is an error there.
build-release/build.ninja: | deps
	meson setup build-release -Dbuildtype=release -Db_ndebug=true -Dinvariants=0

test-release: build-release/build.ninja
	ninja -C build-release

# Each fuzz target runs for FUZZ_SECONDS from a copy of its corpus.
fuzz: build-fuzz/build.ninja
	ninja -C build-fuzz
	@for t in build-fuzz/fuzz/fuzz_*; do \
	  [ -f "$$t" ] && [ -x "$$t" ] || continue; \
	  name=$${t##*/fuzz_}; work=build-fuzz/corpus-$$name; \
	  rm -rf $$work; mkdir -p $$work; cp fuzz/corpus/$$name/* $$work/; \
	  case $$name in \
	    walkcase) cp tests/cases/*.case examples/*.case $$work/ ;; \
	    lua) cp tests/scenarios/*.lua $$work/ ;; \
	  esac; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 $$work >build-fuzz/$$name.log 2>&1 \
	    || { tail -n 40 build-fuzz/$$name.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units' build-fuzz/$$name.log; \
	done

# Benchmarks run from their own optimised build, with the invariant checks off.
build-bench/build.ninja: | deps
	meson setup build-bench -Dbuildtype=release -Db_ndebug=if-release -Db_lto=true -Dinvariants=0

bench: build-bench/build.ninja
	ninja -C build-bench
	./build-bench/bench/mmu
	./build-bench/bench/os
	./build-bench/bench/sandbox
	./build-bench/bench/shootdown
	./build-bench/bench/replay

clean:
	rm -rf build build-asan build-release build-fuzz build-bench
