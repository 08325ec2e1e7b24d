// Model constants and the hyperprior shared by the kernels (DESIGN.md section 1).
#ifndef FASTDMM_MODEL_H
#define FASTDMM_MODEL_H

namespace fastdmm {

// Gamma(shape = eta, rate = nu) hyperprior on every alpha, as in the reference.
constexpr double kPriorShape = 0.1;  // eta
constexpr double kPriorRate = 0.1;   // nu

}  // namespace fastdmm

#endif
