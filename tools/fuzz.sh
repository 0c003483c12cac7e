#!/bin/sh
# Builds the libFuzzer target Fuzz/FuzzReaders.swift (ONNX, .npy, IDX, CIFAR, JPEG/PNG readers)
# and runs it for a bounded time, seeded with the committed corpus Tests/Fixtures/fuzz.
#
#   tools/fuzz.sh [SECONDS]        # default 60; findings are written to .build/fuzz/findings/
#
# The reader modules are compiled with -sanitize=fuzzer (coverage instrumentation) into their own
# build folder, so the normal build is untouched. Not run in CI (minutes of CPU); run it after
# changing a reader. Needs only the Swift toolchain (its libFuzzer runtime) and the Debian -dev
# packages the package already uses.
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=.build/fuzz
for target in Core ImageIO Datasets CNN; do
    swift build --build-path "$build" --target "$target" -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library
done
debug="$build/debug"
objects=$(find "$debug/Core.build" "$debug/ImageIO.build" "$debug/Datasets.build" "$debug/CNN.build" \
    "$debug/CJpegDecoder.build" -name '*.o')
swiftc -sanitize=fuzzer -parse-as-library -g -Onone \
    -I "$debug/Modules" -I "$debug" \
    -Xcc -fmodule-map-file=Sources/COpenBLAS/module.modulemap \
    -Xcc -fmodule-map-file=Sources/CImageCodecs/module.modulemap \
    -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap \
    -Xcc -I -Xcc Sources/CJpegDecoder/include \
    -Xcc -fmodule-map-file="$debug/CJpegDecoder.build/module.modulemap" \
    Fuzz/FuzzReaders.swift $objects \
    -lopenblas -llapacke -ljpeg -lspng -lz \
    -o "$build/fuzz-readers"

# Seed corpus: every committed fuzz file, prefixed with the byte that selects its reader.
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds" "$build/findings"
add() { # $1 selector byte (octal), $2 folder
    for f in Tests/Fixtures/fuzz/"$2"/*; do
        { printf "\\$1"; cat "$f"; } > "$seeds/$2-$(basename "$f")-$1"
    done
}
add 000 onnx; add 001 npy; add 002 npy; add 003 idx; add 004 png; add 004 jpeg; add 005 cifar
mkdir -p "$build/corpus"
# Swift's own crash reporter would catch the signal first; let libFuzzer's save the input.
SWIFT_BACKTRACE=enable=no "$build/fuzz-readers" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len=65536 \
    -artifact_prefix="$build/findings/" "$build/corpus" "$seeds" 2>&1 | grep -v '^#' | tail -n 40
