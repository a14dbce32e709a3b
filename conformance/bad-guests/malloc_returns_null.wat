;; A module whose `malloc` always returns 0.
;; abi: init.malloc
;; gomode: init.malloc
;; request: GET /
(module
  (memory (export "memory") 2)
  ;; GoMode initializes a guest through `_start` only.
  (func (export "_start"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
  (func (export "handle_zerobuf") (param $req i32) (result i32)
    (i32.const 256))
  ;; The response at 256 (three slots) and its strings; only what the first line names is wrong.
  (data (i32.const 256) "\02\00\00\00\c8\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 272) "\04\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 288) "\04\00\00\00\10\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 512) "\0a\00\00\00text/plain")
  (data (i32.const 528) "\02\00\00\00ok")
)
