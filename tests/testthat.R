library(testthat)
library(fastdmm)

test_check("fastdmm")
