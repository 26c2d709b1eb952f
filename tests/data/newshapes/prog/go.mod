module example.com/newshapes

go 1.24
