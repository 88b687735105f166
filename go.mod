module github.com/nva-project/nva

go 1.26.8

replace antrea.io/libOpenflow => github.com/antrea-io/libOpenflow v0.15.0
