module jetgen.test/pause

go 1.25
