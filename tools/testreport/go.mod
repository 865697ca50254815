module github.com/edw-dev/edw/tools/testreport

go 1.26.3
