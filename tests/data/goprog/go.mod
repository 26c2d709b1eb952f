module example.com/formsprog

go 1.27
