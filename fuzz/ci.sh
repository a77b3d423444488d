#!/usr/bin/env bash
# Builds every fuzz target and runs each one briefly, starting from its committed seeds
# and regressions (copied to a temporary corpus, so the tree stays clean). Fails on any
# crash, panic, leak or timeout.
#
#   FUZZ_SECONDS=15 fuzz/ci.sh           # seconds per target (default 15)
#   FUZZ_TARGETS="path_parse" fuzz/ci.sh # a subset (default: every target)
#
# Needs cargo-fuzz. Only stable Rust is installed, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass
# its nightly-only flags (-Zsanitizer=address); the main workspace never sees them.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."
seconds="${FUZZ_SECONDS:-15}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/ci.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 1
fi

if [[ -n ${FUZZ_TARGETS:-} ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building the fuzz targets"
cargo fuzz build --fuzz-dir "$fuzz_dir"

failed=()
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    for dir in "$fuzz_dir/seeds/$target" "$fuzz_dir/regressions/$target"; do
        if [[ -d $dir ]]; then
            cp -- "$dir"/* "$corpus"/ 2>/dev/null || true
        fi
    done
    echo "== $target: ${seconds}s from $(find "$corpus" -type f | wc -l) inputs"
    if ! cargo fuzz run --fuzz-dir "$fuzz_dir" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts" >"$work/$target.log" 2>&1; then
        failed+=("$target")
        echo "!! $target failed; the panic and the end of its log:" >&2
        grep -m1 -A6 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' \
            "$work/$target.log" >&2 || true
        echo "   ..." >&2
        tail -n 12 "$work/$target.log" >&2
        for crash in "$artifacts"*; do
            [[ -f $crash ]] || continue
            echo "!! input $(basename "$crash") (base64): $(base64 -w0 "$crash")" >&2
        done
    else
        grep -E '^stat::number_of_executed_units' "$work/$target.log" || true
    fi
done

if ((${#failed[@]})); then
    echo "fuzz/ci.sh: crashed: ${failed[*]}" >&2
    echo "Minimise with 'cargo fuzz tmin', save under fuzz/regressions/<target>/ and fix." >&2
    exit 1
fi
echo "== all ${#targets[@]} targets ran ${seconds}s each without a crash"
