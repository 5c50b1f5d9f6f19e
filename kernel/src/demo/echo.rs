//! `--interactive`: echo console lines until `quit` (or end of input).

use kernel::api::*;
use kernel::println;

pub async fn run() {
    if !enable_console_input() {
        println!("echo: the console has no interrupt in the DTB; skipping");
        return;
    }
    println!("echo: type a line ('quit' to finish)");
    let mut buf = [0u8; 128];
    loop {
        let n = read_line(&mut buf).await;
        let line = core::str::from_utf8(&buf[..n]).unwrap_or("<not utf-8>");
        if line == "quit" {
            break;
        }
        println!("echo: {}", line);
    }
}
