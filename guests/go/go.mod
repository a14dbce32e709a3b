module gomode.dev/guests/go

go 1.24
