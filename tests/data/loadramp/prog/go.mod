module example.com/loadramp

go 1.24
