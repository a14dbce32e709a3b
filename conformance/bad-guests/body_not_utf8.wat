;; A guest whose string body holds the bytes ff fe, which are not UTF-8.
;; abi: response.utf8
;; gomode: 200
;; request: GET /
(module
  (memory (export "memory") 2)
  ;; GoMode initializes a guest through `_start` only.
  (func (export "_start"))
  ;; A bump allocator over the second page, enough for the 64 KiB scratch area.
  (global $next (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "handle_zerobuf") (param $req i32) (result i32)
    (i32.const 256))
  ;; The response at 256 (three slots) and its strings; only what the first line names is wrong.
  (data (i32.const 256) "\02\00\00\00\c8\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 272) "\04\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 288) "\04\00\00\00\30\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 512) "\0a\00\00\00text/plain")
  (data (i32.const 528) "\02\00\00\00ok")
  (data (i32.const 560) "\02\00\00\00\ff\fe")
)
