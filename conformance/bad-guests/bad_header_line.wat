;; A guest that declares response headers and writes a line without ": ".
;; abi: response.headers
;; gomode: 200 ok
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
  (func (export "gomode_abi_features") (result i32) (i32.const 1))
  ;; The response at 256 (three slots) and its strings; only what the first line names is wrong.
  (data (i32.const 256) "\02\00\00\00\c8\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 272) "\04\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 288) "\04\00\00\00\10\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 512) "\0a\00\00\00text/plain")
  (data (i32.const 528) "\02\00\00\00ok")
  ;; Slot 3: a string at 544 holding "no colon here\n".
  (data (i32.const 304) "\04\00\00\00\20\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 544) "\0e\00\00\00no colon here\0a")
)
