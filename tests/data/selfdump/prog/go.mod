module example.com/selfdump

go 1.24
