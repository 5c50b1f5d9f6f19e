//! Rebuild the kernel when its linker script changes (cargo does not track `-T` files).

fn main() {
    println!("cargo:rerun-if-changed=../linker/kernel.ld");
}
