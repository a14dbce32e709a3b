// abi.go holds what both entry files declare to the host: bit 0 of gomode_abi_features, set
// because every response this guest writes has slot 3 (the headers).

package main

const featureResponseHeaders = 1
