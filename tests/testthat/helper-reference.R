# Live calls to DirichletMultinomial's fitting functions (dmn(), dmngroup(),
# cvdmngroup()), each in a fresh R process (issue 9). The reference's C code
# defines calloc() as R_alloc(), which does not zero memory, and its first soft
# k-means iteration compares the new centres with old ones never written
# (valgrind: "Conditional jump or move depends on uninitialised value(s)" in
# dirichlet_fit_main). Its start, and so its optimum, can then depend on what
# earlier code left on the heap of the same R process: run in the test process,
# it made a dmngroup() comparison fail about one suite in seven. A new process
# that does nothing but this call gives the reference the same heap every time.
# Accessors on the objects it returns (mixture(), fitted(), predict(), ...)
# are pure R and may run in the test process.

# DirichletMultinomial::<fun>(...) run in a new R process; returns its value.
# `r_seed` seeds R's random numbers there first, as with_seed() would here
# (cvdmngroup() draws its folds with sample()). With `capture = TRUE` returns
# list(value, messages, output): the messages without their trailing newlines,
# as capture_messages() gives them, and the printed lines, as
# capture.output(type = "output") gives them.
reference_call <- function(fun, ..., r_seed = NULL, capture = FALSE) {
  skip_if_not_installed("DirichletMultinomial")
  skip_if_not_installed("callr")
  callr::r(
    function(fun, args, r_seed, capture) {
      reference_fun <- getExportedValue("DirichletMultinomial", fun)
      if (!is.null(r_seed)) {
        set.seed(r_seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
                 sample.kind = "Rejection")
      }
      if (!capture) return(do.call(reference_fun, args))
      messages <- character()
      value <- NULL
      output <- utils::capture.output(
        value <- withCallingHandlers(do.call(reference_fun, args), message = function(m) {
          messages <<- c(messages, sub("\n$", "", conditionMessage(m)))
          invokeRestart("muffleMessage")
        }),
        type = "output"
      )
      list(value = value, messages = messages, output = output)
    },
    args = list(fun = fun, args = list(...), r_seed = r_seed, capture = capture)
  )
}
