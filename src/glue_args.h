// The one way the glue reads arguments from R: readers that check each value and refuse, by name, any the core cannot take.
#ifndef FASTDMM_GLUE_ARGS_H
#define FASTDMM_GLUE_ARGS_H

#include <Rcpp.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

// THE RULE for every glue file (glue_*.cpp):
// 1. Every export takes its arguments as SEXP, never as typed Rcpp arguments
//    (whose silent coercions would hide a wrong type).
// 2. Each argument is read by a reader of this file (read_int, read_double,
//    read_flag, read_whole, read_doubles, read_ints, check_matrix,
//    read_double_matrix, read_seed_words, SettingsReader) or by one of glue.h's
//    readers of objects: count_table() for a count table, column_source() for a
//    matrix to build one from. Scalar readers check type, length, NA and range;
//    vector readers check type and length, and the export checks the elements
//    right after reading them.
// 3. Every refusal goes through refuse() (an R error "'name' problem" naming the
//    argument) or, for an object only the package makes and something edited or
//    broke (a count table, a block builder, a dgCMatrix's slots), refuse_object().
//    No export calls Rcpp::stop() itself.
// R checks every argument first, with classed errors for users (R/input.R); these
// checks are the last line: whatever an R object holds (a settings list edited by
// hand, a call through `:::`), a value outside the range the core is written for
// stops here, on R's main thread, and never reaches the core.
namespace fastdmm_glue {

constexpr int kIntMax = INT_MAX;

[[noreturn]] inline void refuse(const std::string& name, const std::string& problem) {
  Rcpp::stop("'" + name + "' " + problem);
}

// An object made by the package that is not as it made it; `problem` says what.
[[noreturn]] inline void refuse_object(const std::string& problem) { Rcpp::stop(problem); }

inline std::string range_text(double min, double max) {
  auto text = [](double v) {
    if (v == static_cast<double>(kIntMax)) return std::string(".Machine$integer.max");
    std::string s = std::to_string(v);
    // Whole numbers without the decimals std::to_string adds.
    if (v == std::floor(v) && std::fabs(v) < 1e15) s = std::to_string(static_cast<long long>(v));
    return s;
  };
  if (std::isinf(max)) return ">= " + text(min);
  return "between " + text(min) + " and " + text(max);
}

// A whole number in [min, max] held in an integer or double vector of length 1.
inline int read_int(SEXP x, const std::string& name, int min, int max) {
  if ((TYPEOF(x) != INTSXP && TYPEOF(x) != REALSXP) || XLENGTH(x) != 1) {
    refuse(name, "must be a single whole number");
  }
  double value = 0.0;
  if (TYPEOF(x) == INTSXP) {
    if (INTEGER(x)[0] == NA_INTEGER) refuse(name, "must not be NA");
    value = INTEGER(x)[0];
  } else {
    value = REAL(x)[0];
    if (!std::isfinite(value) || value != std::floor(value)) {
      refuse(name, "must be a finite whole number");
    }
  }
  if (value < min || value > max) refuse(name, "must be " + range_text(min, max));
  return static_cast<int>(value);
}

// As read_int(), but NA (integer or double) gives `if_missing`.
inline int read_int_or_na(SEXP x, const std::string& name, int min, int max, int if_missing) {
  if (TYPEOF(x) == INTSXP && XLENGTH(x) == 1 && INTEGER(x)[0] == NA_INTEGER) return if_missing;
  if (TYPEOF(x) == REALSXP && XLENGTH(x) == 1 && ISNA(REAL(x)[0])) return if_missing;
  if (TYPEOF(x) == LGLSXP && XLENGTH(x) == 1 && LOGICAL(x)[0] == NA_LOGICAL) return if_missing;
  return read_int(x, name, min, max);
}

// A finite number in [min, max].
inline double read_double(SEXP x, const std::string& name, double min, double max) {
  if ((TYPEOF(x) != INTSXP && TYPEOF(x) != REALSXP) || XLENGTH(x) != 1) {
    refuse(name, "must be a single number");
  }
  const double value = TYPEOF(x) == INTSXP
                           ? (INTEGER(x)[0] == NA_INTEGER ? NAN : INTEGER(x)[0])
                           : REAL(x)[0];
  if (!std::isfinite(value)) refuse(name, "must be a finite number");
  if (value < min || value > max) refuse(name, "must be " + range_text(min, max));
  return value;
}

// A whole number in [0, max] held in an integer or double vector of length 1, as a
// size (doubles hold whole numbers exactly up to 2^53).
inline std::size_t read_whole(SEXP x, const std::string& name, double max) {
  if ((TYPEOF(x) != INTSXP && TYPEOF(x) != REALSXP) || XLENGTH(x) != 1) {
    refuse(name, "must be a single whole number");
  }
  const double value = TYPEOF(x) == INTSXP
                           ? (INTEGER(x)[0] == NA_INTEGER ? NAN : INTEGER(x)[0])
                           : REAL(x)[0];
  if (!std::isfinite(value) || value != std::floor(value)) {
    refuse(name, "must be a finite whole number");
  }
  if (value < 0 || value > max) refuse(name, "must be " + range_text(0, max));
  return static_cast<std::size_t>(value);
}

inline bool read_flag(SEXP x, const std::string& name) {
  if (TYPEOF(x) != LGLSXP || XLENGTH(x) != 1 || LOGICAL(x)[0] == NA_LOGICAL) {
    refuse(name, "must be TRUE or FALSE");
  }
  return LOGICAL(x)[0] != 0;
}

// A double vector of `length` values (a vector or a matrix), for reading in place.
inline const double* read_doubles(SEXP x, const std::string& name, R_xlen_t length) {
  if (TYPEOF(x) != REALSXP || XLENGTH(x) != length) {
    refuse(name, "must be a double vector of length " + std::to_string(length));
  }
  return REAL(x);
}

// An integer vector of min_length to max_length elements, for reading in place
// (elements unchecked: the caller checks them); refused as "must be <what>".
inline const int* read_ints(SEXP x, const std::string& name, R_xlen_t min_length,
                            R_xlen_t max_length, const std::string& what) {
  if (TYPEOF(x) != INTSXP || XLENGTH(x) < min_length || XLENGTH(x) > max_length) {
    refuse(name, "must be " + what);
  }
  return INTEGER(x);
}

// A double matrix with at least one row and one column; its shape in n_row, n_col.
inline const double* read_double_matrix(SEXP x, const std::string& name, int& n_row,
                                        int& n_col) {
  if (TYPEOF(x) != REALSXP || !Rf_isMatrix(x)) refuse(name, "must be a double matrix");
  n_row = Rf_nrows(x);
  n_col = Rf_ncols(x);
  if (n_row < 1 || n_col < 1) refuse(name, "must have rows and columns");
  return REAL(x);
}

// Two 64-bit seed words from four 32-bit words (whole numbers in [0, 2^32) in a
// double vector, drawn from R's random number generator by rdmm()).
inline void read_seed_words(SEXP x, const std::string& name, std::uint64_t out[2]) {
  if (TYPEOF(x) != REALSXP || XLENGTH(x) != 4) refuse(name, "must hold 4 words");
  std::uint64_t word[4];
  for (int m = 0; m < 4; ++m) {
    const double value = REAL(x)[m];
    if (!(value >= 0.0 && value < 4294967296.0) || value != std::floor(value)) {
      refuse(name, "words must be whole numbers in [0, 2^32)");
    }
    word[m] = static_cast<std::uint64_t>(value);
  }
  out[0] = (word[0] << 32) | word[1];
  out[1] = (word[2] << 32) | word[3];
}

// A double matrix with n_row rows and n_col columns (n_col < 0: any number >= 1).
inline void check_matrix(SEXP x, const std::string& name, int n_row, int n_col) {
  if (TYPEOF(x) != REALSXP || !Rf_isMatrix(x)) refuse(name, "must be a double matrix");
  if (Rf_nrows(x) != n_row) refuse(name, "must have " + std::to_string(n_row) + " rows");
  if (n_col >= 0 ? Rf_ncols(x) != n_col : Rf_ncols(x) < 1) {
    refuse(name, n_col >= 0 ? "must have " + std::to_string(n_col) + " columns"
                            : "must have at least one column");
  }
}

// The fields of a named R list of settings (such as dmn_search()'s), each read by
// name with the readers above; an absent field is refused by name. A new setting
// is one more line calling one of these.
class SettingsReader {
 public:
  SettingsReader(SEXP list, std::string list_name) : list_(list), list_name_(std::move(list_name)) {
    if (TYPEOF(list_) != VECSXP) refuse(list_name_, "must be a list of settings");
  }
  int integer(const char* name, int min, int max) const {
    return read_int(field(name), qualified(name), min, max);
  }
  int integer_or_na(const char* name, int min, int max, int if_missing) const {
    return read_int_or_na(field(name), qualified(name), min, max, if_missing);
  }
  double number(const char* name, double min, double max) const {
    return read_double(field(name), qualified(name), min, max);
  }
  bool flag(const char* name) const { return read_flag(field(name), qualified(name)); }

 private:
  std::string qualified(const char* name) const { return list_name_ + "$" + name; }
  SEXP field(const char* name) const {
    SEXP names = Rf_getAttrib(list_, R_NamesSymbol);
    if (TYPEOF(names) == STRSXP) {
      for (R_xlen_t i = 0; i < XLENGTH(list_); ++i) {
        if (std::string(CHAR(STRING_ELT(names, i))) == name) return VECTOR_ELT(list_, i);
      }
    }
    refuse(qualified(name), "is missing");
  }
  SEXP list_;
  std::string list_name_;
};

}  // namespace fastdmm_glue

#endif
