// abi.go holds what both entry files declare to the host in gomode_abi_features: bit 0, set
// because every response this guest writes has slot 3 (the headers), and bit 1, set because the
// fetch and KV routes answer status -1 to ask for an outbound fetch (fetch.go).

package main

const (
	featureResponseHeaders = 1
	featureOutboundFetch   = 2

	// abiFeatures is what gomode_abi_features returns.
	abiFeatures = featureResponseHeaders | featureOutboundFetch
)
