;; A guest that asks for a fetch whose call index in slot 3 is not decimal.
;; abi: fetch.request
;; gomode: fetch.request
;; request: GET /
(module
  (memory (export "memory") 3)
  ;; GoMode initializes a guest through `_start` only.
  (func (export "_start"))
  ;; A bump allocator over the second page and on, enough for the scratch and the fetch records.
  (global $next (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  ;; Declares outbound fetch (feature bit 1), so that the abi profile reads the -1 answer too.
  (func (export "gomode_abi_features") (result i32) (i32.const 2))
  (func (export "handle_zerobuf") (param $req i32) (result i32)
    (i32.const 256))
  ;; A guest that asks for a fetch whose call index in slot 3 is not decimal.
  (data (i32.const 256) "\02\00\00\00\ff\ff\ff\ff\00\00\00\00\00\00\00\00")
  (data (i32.const 272) "\04\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 288) "\04\00\00\00\10\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 304) "\04\00\00\00\00\03\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 512) "\04\00\00\00GET\0a")
  (data (i32.const 528) "\16\00\00\00http://example.test/x\0a")
  (data (i32.const 768) "\03\00\00\00one")
)
