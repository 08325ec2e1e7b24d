# SplitMix64 emulated in R with 16-bit limbs, for the seeds of the restarts
# (independent of fastdmm's C++).

# Unsigned 64-bit integers as four 16-bit limbs (least significant first), and
# as 64 bits for shifts and xor.
u64_from_hex <- function(hex) {
  digits <- strtoi(strsplit(sprintf("%016s", hex), "")[[1]], 16L)
  digits[is.na(digits)] <- 0
  rev(vapply(0:3, function(m) sum(digits[4 * m + 1:4] * 16^(3:0)), numeric(1)))
}
u64_bits <- function(limbs) unlist(lapply(limbs, function(l) as.logical(intToBits(l))[1:16]))
u64_from_bits <- function(bits) {
  vapply(0:3, function(m) sum(bits[16 * m + 1:16] * 2^(0:15)), numeric(1))
}
u64_carry <- function(r) {
  for (m in 1:3) {
    r[m + 1] <- r[m + 1] + r[m] %/% 65536
    r[m] <- r[m] %% 65536
  }
  r[4] <- r[4] %% 65536
  r
}
u64_add <- function(a, b) u64_carry(a + b)
u64_multiply <- function(a, b) {
  r <- numeric(4)
  for (i in 1:4) for (j in 1:(5 - i)) r[i + j - 1] <- r[i + j - 1] + a[i] * b[j]
  # Each limb sum is below 2^35: exact in doubles; carry one limb at a time.
  u64_carry(r)
}
u64_xor_shift <- function(a, shift) {
  bits <- u64_bits(a)
  u64_from_bits(xor(bits, c(bits[(shift + 1):64], rep(FALSE, shift))))
}

# Seeds for restarts: the user's seed, then SplitMix64 outputs from the state
# uint32(seed), each masked to 31 bits (a non-negative R integer).
r_derived_seeds <- function(seed, n) {
  state <- c(seed %% 2^32 %% 65536, seed %% 2^32 %/% 65536, 0, 0)
  out <- integer(n)
  out[1] <- as.integer(seed)
  for (s in seq_len(n - 1L)) {
    state <- u64_add(state, u64_from_hex("9e3779b97f4a7c15"))
    z <- u64_multiply(u64_xor_shift(state, 30), u64_from_hex("bf58476d1ce4e5b9"))
    z <- u64_multiply(u64_xor_shift(z, 27), u64_from_hex("94d049bb133111eb"))
    z <- u64_xor_shift(z, 31)
    out[s + 1L] <- as.integer(z[1] + (z[2] %% 32768) * 65536)
  }
  out
}
