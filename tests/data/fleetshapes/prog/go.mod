module example.com/fleetshapes

go 1.24
