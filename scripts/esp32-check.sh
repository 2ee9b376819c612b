#!/usr/bin/env bash
# ESP32 checks for ferrograd (see shared/design.md, "ESP32 targets on this
# machine"):
#
#  * Models: trains a small MAF, MDN, MLP and residual MLP with the host CLI and exports
#    them (`ferrograd export`) into target/esp32-check/models.
#  * ESP32-C3 class (riscv32imc): builds esp-runtime/firmware (embedding
#    those models) with Debian's
#    rustc and -Zbuild-std, runs it under qemu-system-riscv32 (virt machine,
#    semihosting, -icount shift=0 so minstret is an exact instruction count),
#    saves its stdout to target/esp32-check/riscv.out and fails if QEMU fails,
#    times out, or the counter is not exact.
#  * Parity: the host runtime prints the same report from the same blobs
#    (esp-runtime/examples/parity.rs); the f32 bits must be identical.
#  * ESP32 (Xtensa LX6): builds a metadata-only sysroot (core,
#    compiler_builtins, alloc) for a patched xtensa-esp32-none-elf spec,
#    cached under target/esp32-check/, then compiles each crate of
#    $XTENSA_CRATES to an rlib and checks that every object in it is
#    "ELF 32-bit LSB relocatable, Tensilica Xtensa". Nothing links for Xtensa
#    here (no linker, no QEMU machine), so compiling is the check.
#
# Usage: scripts/esp32-check.sh            (from any directory; idempotent)
# Environment:
#   XTENSA_CRATES   crates for the Xtensa check (default
#                   "ferrograd-tensor ferrograd-esp")
#   QEMU_TIMEOUT    seconds before QEMU is killed (default 120)
#   SKIP_INSTALL=1  do not run apt-get even if something is missing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIRMWARE_DIR="$ROOT/esp-runtime/firmware"
OUT_DIR="$ROOT/target/esp32-check"

# Debian's rustc-web (1.96, LLVM 22 with the Xtensa backend) and its
# rust-src; the rustup toolchain's rustc is host-only.
DEB_RUSTC=/usr/bin/rustc
RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library

RISCV_TARGET=riscv32imc-unknown-none-elf
RISCV_TARGET_DIR="$FIRMWARE_DIR/target"
RISCV_ELF="$RISCV_TARGET_DIR/$RISCV_TARGET/release/ferrograd-esp-firmware"
RISCV_OUT="$OUT_DIR/riscv.out"
MODELS_DIR="$OUT_DIR/models"
QEMU_TIMEOUT="${QEMU_TIMEOUT:-120}"

XTENSA_CRATES="${XTENSA_CRATES:-ferrograd-tensor ferrograd-esp}"
XTENSA_TARGET=xtensa-esp32-none-elf
# The upstream LLVM Xtensa backend's data layout (the built-in spec carries
# the one of Espressif's LLVM fork).
XTENSA_DATA_LAYOUT="e-m:e-p:32:32-i8:8:32-i16:16:32-i64:64-n32"
XTENSA_SPEC="$OUT_DIR/xtensa/$XTENSA_TARGET.json"
XTENSA_SYSROOT="$OUT_DIR/xtensa/sysroot"
XTENSA_SYSROOT_LIB="$XTENSA_SYSROOT/lib/rustlib/$XTENSA_TARGET/lib"
XTENSA_TARGET_DIR="$ROOT/target/xtensa"
# Codegen flags shared by the sysroot and the crates (no FPU: with it,
# opt-level 3 trips an upstream backend gap on float constant pools).
XTENSA_CODEGEN_FLAGS=(-C target-feature=-fp)
# Bump when the sysroot recipe below changes, to invalidate the cache.
XTENSA_SYSROOT_RECIPE=1

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Flags from the caller's environment would override the firmware's
# .cargo/config.toml (RUSTFLAGS wins over target.rustflags): clear them.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET

log() { printf '== %s\n' "$*"; }
die() {
    printf 'esp32-check: error: %s\n' "$*" >&2
    exit 1
}

SUMMARY=()
note() { SUMMARY+=("$*"); }

# --- install ----------------------------------------------------------------

install() {
    local missing=()
    # (grep without -q reads all of rustc's output: no SIGPIPE under pipefail)
    [ -x "$DEB_RUSTC" ] && "$DEB_RUSTC" --print target-list 2>/dev/null | grep -x "$XTENSA_TARGET" >/dev/null ||
        missing+=("Debian rustc with $XTENSA_TARGET")
    [ -f "$RUST_LIB_SRC/core/src/lib.rs" ] || missing+=("rust-src")
    command -v ld.lld >/dev/null || missing+=(ld.lld)
    command -v qemu-system-riscv32 >/dev/null || missing+=(qemu-system-riscv32)
    command -v file >/dev/null || missing+=(file)
    command -v ar >/dev/null || missing+=(ar)
    command -v cargo >/dev/null || die "cargo is missing: this needs the machine's Rust toolchain"
    if [ ${#missing[@]} -eq 0 ]; then
        log "install: everything present"
        return
    fi
    [ "${SKIP_INSTALL:-0}" = 1 ] && die "missing (SKIP_INSTALL=1): ${missing[*]}"
    log "install: missing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update
    # rustc-web pulls binutils (ar); file is listed for `file` itself.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rustc-web rust-web-src lld qemu-system-misc file
    "$DEB_RUSTC" --print target-list | grep -x "$XTENSA_TARGET" >/dev/null ||
        die "$DEB_RUSTC has no $XTENSA_TARGET target after installing rustc-web"
}

# --- RISC-V (ESP32-C3 class) ------------------------------------------------

riscv_build() {
    log "riscv: building esp-runtime/firmware for $RISCV_TARGET"
    # Run inside the firmware crate so its .cargo/config.toml (linker, link
    # scripts) applies; --locked keeps the committed Cargo.lock authoritative.
    (
        cd "$FIRMWARE_DIR" &&
            RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --release --locked \
                -Zbuild-std=core,alloc --target "$RISCV_TARGET" --target-dir "$RISCV_TARGET_DIR"
    ) || die "riscv firmware build failed (if Cargo.lock is out of date: cd esp-runtime/firmware && cargo update)"
    [ -f "$RISCV_ELF" ] || die "no firmware at $RISCV_ELF"
    note "riscv build: $(file -b "$RISCV_ELF" | cut -d, -f1-3)"
}

riscv_run() {
    log "riscv: running the firmware under QEMU (timeout ${QEMU_TIMEOUT}s)"
    mkdir -p "$OUT_DIR"
    local rc=0
    # -icount shift=0: one virtual ns per instruction, so minstret counts
    # instructions exactly (without it QEMU returns host clock ticks).
    timeout -k 5 "$QEMU_TIMEOUT" qemu-system-riscv32 -M virt -cpu rv32 -bios none -nographic \
        -semihosting-config enable=on,target=native -icount shift=0 \
        -kernel "$RISCV_ELF" </dev/null >"$RISCV_OUT" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        cat "$RISCV_OUT"
        die "QEMU timed out after ${QEMU_TIMEOUT}s"
    elif [ "$rc" -ne 0 ]; then
        cat "$RISCV_OUT"
        die "QEMU exited with status $rc (a firmware panic exits with 101)"
    fi
    grep -qx 'instret counter exact' "$RISCV_OUT" ||
        die "minstret is not an exact instruction count (see $RISCV_OUT)"
    note "riscv run: ok, exact instret counts -> ${RISCV_OUT#"$ROOT"/}"
}

# --- host/device parity -----------------------------------------------------
# Trains a small MAF, MDN and MAML sinusoid MLP with the host CLI (--test
# runs), exports them with `ferrograd export` into $MODELS_DIR and points the
# firmware build at them (build.rs reads $FERROGRAD_MODELS).
export_models() {
    log "models: training and exporting MAF, MDN, MLP and residual MLP with the host CLI"
    (cd "$ROOT" && cargo build --release --locked --bin ferrograd) || die "host CLI build failed"
    local cli="$ROOT/target/release/ferrograd" runs="$OUT_DIR/runs"
    rm -rf "$runs" "$MODELS_DIR"
    mkdir -p "$runs"
    # The MDN learns a user's CSV in its own units (x around 100 and 5, f
    # around 1000), so its blob carries the normalisation (format v2) and
    # the parity below covers it.
    awk 'BEGIN { srand(1); print "load,x1,x2"
        for (i = 0; i < 3000; i++) {
            u = rand(); z1 = sqrt(-2 * log(1 - rand())) * cos(6.2831853 * rand())
            z2 = sqrt(-2 * log(1 - rand())) * cos(6.2831853 * rand())
            printf "%.3f,%.4f,%.5f\n", 1000 + 500 * u, 100 + 20 * z1, 5 + 0.01 * (z1 * z1 + (1 + u) * z2) } }' \
        >"$runs/user.csv"
    "$cli" cde train --model maf --flows 3 --hidden 32x1 --test --no-plot --quiet --out "$runs/maf" >/dev/null
    "$cli" cde train --model mdn --hidden 32 --test --no-plot --quiet --out "$runs/mdn" \
        --data "$runs/user.csv" --x-cols x1,x2 --f-cols load >/dev/null
    "$cli" maml sinusoid train --test --no-plot --quiet --out "$runs/mlp" >/dev/null
    # The regression surrogate (residual MLP, built-in synthetic rollouts):
    # its input and output normalisation are folded into the blob.
    "$cli" regress train --test --no-plot --quiet --out "$runs/resmlp" >/dev/null
    local k
    for k in maf mdn mlp resmlp; do
        "$cli" export --checkpoint "$runs/$k/checkpoints/best.safetensors" --out "$MODELS_DIR" >"$runs/$k.export"
        head -1 "$runs/$k.export"
    done
    export FERROGRAD_MODELS="$MODELS_DIR"
    note "models: $(for k in maf mdn mlp resmlp; do printf '%s %s B  ' "$k" "$(stat -c %s "$MODELS_DIR/$k.bin")"; done)"
}

# The host runtime prints the same selftest report from the same blobs; the
# device's report (without its `instret` and `heap` lines) must be identical.
compare_with_host() {
    log "parity: host runtime vs QEMU, f32 bits"
    (cd "$ROOT" && cargo run --release --locked -q -p ferrograd-esp --features alloc --example parity -- \
        "maf=$MODELS_DIR/maf.bin" "mdn=$MODELS_DIR/mdn.bin" "mlp=$MODELS_DIR/mlp.bin" \
        "resmlp=$MODELS_DIR/resmlp.bin") \
        >"$OUT_DIR/host.out" || die "host parity run failed"
    grep -v -E '^(instret|heap) ' "$RISCV_OUT" >"$OUT_DIR/device.out"
    if ! diff -u "$OUT_DIR/host.out" "$OUT_DIR/device.out"; then
        die "device output differs from the host runtime's (see the diff above)"
    fi
    local values
    values=$(grep -c -E '^(lp|sample|out) ' "$OUT_DIR/host.out" || true)
    [ "$values" -gt 0 ] || die "the reports hold no values"
    note "parity: $values report lines (log-densities, samples, MLP outputs) identical bit for bit"
    note "riscv instructions: $(grep -E '^instret (maf|mdn|mlp|resmlp) ' "$RISCV_OUT" | cut -d' ' -f2- | paste -sd, - | sed 's/,/, /g')"
    note "riscv heap peak: $(grep '^heap peak' "$RISCV_OUT" | cut -d' ' -f3) bytes"
}

# The C ABI staticlib (esp-runtime/staticlib) for the same target, as an
# ESP-IDF C project would link it: it must build and export the fg_* symbols.
riscv_staticlib() {
    log "riscv: building the C ABI staticlib for $RISCV_TARGET"
    local dir="$ROOT/esp-runtime/staticlib" lib
    (
        cd "$dir" &&
            RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --release --locked \
                -Zbuild-std=core,alloc --target "$RISCV_TARGET" --target-dir "$RISCV_TARGET_DIR"
    ) || die "riscv staticlib build failed"
    lib="$RISCV_TARGET_DIR/$RISCV_TARGET/release/libferrograd_esp_c.a"
    local missing=() sym
    for sym in fg_model_open fg_model_kind fg_model_dim fg_model_features fg_model_scratch_len \
        fg_log_prob fg_sample fg_mlp_forward; do
        nm -g --defined-only "$lib" 2>/dev/null | grep -q " T $sym\$" || missing+=("$sym")
    done
    [ ${#missing[@]} -eq 0 ] || die "staticlib lacks ${missing[*]}"
    note "riscv staticlib: $(basename "$lib"), $(stat -c %s "$lib") bytes, 8 fg_* symbols"
}

# --- Xtensa (ESP32) ---------------------------------------------------------

# The patched target spec; rewritten only when it changes, so cargo's
# fingerprints stay valid.
xtensa_spec() {
    mkdir -p "$(dirname "$XTENSA_SPEC")"
    local tmp="$XTENSA_SPEC.tmp"
    RUSTC_BOOTSTRAP=1 "$DEB_RUSTC" -Zunstable-options --print target-spec-json \
        --target "$XTENSA_TARGET" >"$tmp"
    sed -i "s/\"data-layout\": *\"[^\"]*\"/\"data-layout\": \"$XTENSA_DATA_LAYOUT\"/" "$tmp"
    grep -q "\"data-layout\": \"$XTENSA_DATA_LAYOUT\"" "$tmp" ||
        die "could not patch data-layout in the $XTENSA_TARGET spec"
    if cmp -s "$tmp" "$XTENSA_SPEC"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$XTENSA_SPEC"
    fi
}

# core, compiler_builtins and alloc as metadata with MIR (no machine code:
# codegen of those crates hits backend gaps around f16). llvm-ir is emitted
# (and thrown away) because it makes rustc encode the optimized MIR that
# downstream crates need.
xtensa_sysroot() {
    xtensa_spec
    local stamp="$XTENSA_SYSROOT/stamp"
    local key
    key="recipe=$XTENSA_SYSROOT_RECIPE flags=${XTENSA_CODEGEN_FLAGS[*]}
$("$DEB_RUSTC" -vV)
$(sha256sum "$XTENSA_SPEC" | cut -d' ' -f1)
$(cat "$RUST_LIB_SRC"/{core,alloc,compiler-builtins/compiler-builtins}/Cargo.toml | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
        log "xtensa: sysroot cached (${XTENSA_SYSROOT#"$ROOT"/})"
        note "xtensa sysroot: cached"
        return
    fi
    log "xtensa: building the core/compiler_builtins/alloc sysroot"
    rm -rf "$XTENSA_SYSROOT"
    mkdir -p "$XTENSA_SYSROOT_LIB"
    local ir="$OUT_DIR/xtensa/ir"
    mkdir -p "$ir"
    local common=(
        --edition 2024 --crate-type lib -O
        -Zforce-unstable-if-unmarked -Zunstable-options
        --target "$XTENSA_SPEC" --sysroot "$XTENSA_SYSROOT"
        --out-dir "$XTENSA_SYSROOT_LIB" "${XTENSA_CODEGEN_FLAGS[@]}" --cap-lints allow
    )
    local crate
    for crate in core compiler_builtins alloc; do
        local src cfgs=()
        case "$crate" in
        core) src="$RUST_LIB_SRC/core/src/lib.rs" ;;
        alloc) src="$RUST_LIB_SRC/alloc/src/lib.rs" ;;
        compiler_builtins)
            src="$RUST_LIB_SRC/compiler-builtins/compiler-builtins/src/lib.rs"
            # What its build script would set for this target (it is not run
            # here); f16/f128 are enabled as the target reports them reliable.
            cfgs=(
                --cfg 'feature="compiler-builtins"' --cfg 'feature="mem"'
                --cfg 'feature="unstable-intrinsics"' --cfg intrinsics_enabled
                --cfg arch_enabled --cfg optimizations_enabled
                --cfg f16_enabled --cfg f128_enabled
            )
            ;;
        esac
        # The crates find each other (and the injected compiler_builtins)
        # through --sysroot, so no --extern flags are needed.
        RUSTC_BOOTSTRAP=1 "$DEB_RUSTC" --crate-name "$crate" "${common[@]}" "${cfgs[@]}" \
            --emit="metadata,llvm-ir=$ir/$crate.ll" "$src" ||
            die "building $crate for $XTENSA_TARGET failed"
        rm -f "$ir/$crate.ll"
    done
    rmdir "$ir" 2>/dev/null || true
    # Objects built against an older sysroot are stale; cargo cannot tell.
    rm -rf "${XTENSA_TARGET_DIR:?}/$XTENSA_TARGET"
    printf '%s' "$key" >"$stamp"
    note "xtensa sysroot: built"
}

# Every object of an rlib must be Xtensa machine code. Prints
# "N objects: <file output of the first one>".
xtensa_check_rlib() {
    local rlib="$1" tmp n=0 o desc first=""
    tmp=$(mktemp -d)
    (cd "$tmp" && ar x "$rlib")
    for o in "$tmp"/*.o; do
        [ -e "$o" ] || continue
        desc=$(file -b "$o")
        case "$desc" in
        "ELF 32-bit LSB relocatable, Tensilica Xtensa"*)
            n=$((n + 1))
            [ -n "$first" ] || first="$desc"
            ;;
        *)
            rm -rf "$tmp"
            die "$(basename "$rlib"): $(basename "$o") is not Xtensa: $desc"
            ;;
        esac
    done
    rm -rf "$tmp"
    [ "$n" -gt 0 ] || die "$(basename "$rlib") has no object files"
    echo "$n objects: $first"
}

xtensa_build() {
    local crate built=()
    for crate in $XTENSA_CRATES; do
        # TEMPORARY fallback until the runtime crate lands (to be removed).
        if [ "$crate" = ferrograd-esp ] && [ ! -f "$ROOT/esp-runtime/Cargo.toml" ]; then
            log "xtensa: SKIPPING ferrograd-esp: esp-runtime/Cargo.toml does not exist yet"
            note "xtensa ferrograd-esp: SKIPPED (esp-runtime/Cargo.toml missing)"
            continue
        fi
        log "xtensa: building $crate"
        (
            cd "$ROOT" &&
                RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1 \
                    RUSTFLAGS="--sysroot $XTENSA_SYSROOT ${XTENSA_CODEGEN_FLAGS[*]}" \
                    cargo build --release -Zjson-target-spec --target "$XTENSA_SPEC" \
                    --target-dir "$XTENSA_TARGET_DIR" -p "$crate" --no-default-features
        ) || die "Xtensa build of $crate failed"
        built+=("$crate")
    done
    local release="$XTENSA_TARGET_DIR/$XTENSA_TARGET/release" rlib n
    for crate in "${built[@]}"; do
        rlib="$release/lib${crate//-/_}.rlib"
        [ -f "$rlib" ] || die "no rlib for $crate at $rlib"
        n=$(xtensa_check_rlib "$rlib")
        echo "  $(basename "$rlib"): $n"
        note "xtensa $crate: ${n%%:*}, all ELF 32-bit LSB relocatable, Tensilica Xtensa"
    done
    # Their dependencies (libm, ...) too.
    for rlib in "$release"/deps/*.rlib; do
        [ -e "$rlib" ] || continue
        n=$(xtensa_check_rlib "$rlib")
        echo "  deps/$(basename "$rlib"): $n"
    done
}

main() {
    local start=$SECONDS
    install
    export_models
    riscv_build
    riscv_run
    compare_with_host
    riscv_staticlib
    xtensa_sysroot
    xtensa_build
    echo
    log "esp32-check summary"
    printf '  %s\n' "${SUMMARY[@]}"
    printf '  total: %ss\n' "$((SECONDS - start))"
}

main "$@"
