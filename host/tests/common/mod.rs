//! The minimal guest of the host's integration tests, written once in WAT, so that each test file
//! writes only the parts of a guest that its tests are about.

/// The WAT text of a minimal guest. It imports WASI's `fd_write` and `proc_exit`, exports a
/// three-page `memory` and a bump `malloc` from 64 KiB, and its `handle_zerobuf` runs `handler`
/// (which may begin with `local`s and finds the request's address in `$req`), then returns the
/// response at 256. Slot 0 of that response holds `status` (its A at 260), and slot `i` (at
/// 256 + 16·i, its A at 4 more) points at `strings[i - 1]`, kept as `[len u32][bytes]` from 512 on,
/// each at the next multiple of 16: after `text/plain`, a body of up to 12 bytes is at 528 and the
/// next string at 544. `items` adds module fields, such as globals, functions, exports and data.
pub fn guest(status: i32, strings: &[&str], handler: &str, items: &str) -> String {
    let mut data = vec![segment(256, slot(2, status.to_le_bytes()))];
    let mut at: u32 = 512;
    for (i, text) in (1..).zip(strings) {
        data.push(segment(256 + 16 * i, slot(4, at.to_le_bytes())));
        data.push(segment(at, (text.len() as u32).to_le_bytes().into_iter().chain(text.bytes())));
        at += (4 + text.len() as u32).next_multiple_of(16);
    }
    let data = data.join("\n  ");
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 3)
  (global $next (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "handle_zerobuf") (param $req i32) (result i32)
    {handler}
    (i32.const 256))
  {items}
  {data}
)"#
    )
}

/// A `data` segment holding `bytes` at `addr`, each byte escaped.
fn segment(addr: u32, bytes: impl IntoIterator<Item = u8>) -> String {
    let escaped: String = bytes.into_iter().map(|b| format!("\\{b:02x}")).collect();
    format!(r#"(data (i32.const {addr}) "{escaped}")"#)
}

/// The 16 bytes of a response slot: its `tag`, its payload A and an unused B.
fn slot(tag: u8, a: [u8; 4]) -> impl Iterator<Item = u8> {
    [tag, 0, 0, 0].into_iter().chain(a).chain([0; 8])
}
