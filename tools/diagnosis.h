// What `krun check` says about a diverging layer: each weight against the reference's (equal,
// transposed, gate blocks reordered, permuted, freshly initialised, different), the semantic
// suspects of its class, and recomputations of the layer with the alternative formulas.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "krun/krun.h"

namespace krun {

// `v` with `digits` significant digits.
std::string format(double v, int digits = 3);

struct Stats {
    double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats_of(const Tensor & t);
std::string stats_text(const Stats & s);  // "mean .. std .. min .. max .."

// One weight of a layer against the reference's.
struct WeightFinding {
    std::string slot;       // krun's slot name
    std::string source;     // manifest name krun bound
    std::string reference;  // Keras weight name in REFDIR/weights/ ("" when none was found)
    std::string verdict;    // equal, different, transposed, gate order, permutation, fresh initialisation, no reference
    std::string detail;
    Stats got, expected;
};

// Fills f.verdict, f.detail and the statistics of krun's weight `got` against the reference's
// `expected`, for a layer of class `class_name` (GRU / LSTM gate blocks).
void judge_weight(const Tensor & got, const Tensor & expected, const std::string & class_name, double atol, double rtol,
                  WeightFinding & f);

// Semantic options a layer of this class is often read differently with (Keras 2 vs 3, converters).
std::vector<std::string> suspects_for(const std::string & class_name);

// What recomputing a layer needs: its first input and output as the reference has them.
struct Evidence {
    const Tensor * input = nullptr;         // the reference (or, if absent, krun's) value of its first input
    const Tensor * expected = nullptr;      // the reference output
    std::map<std::string, Tensor> weights;  // slot name -> reference weight (equal ones only)
};

// Recomputes an elementwise activation layer with every activation formula (both Keras versions'
// variants) and a BatchNormalization with the usual epsilons; one line per alternative with its
// max abs error against the reference output, "-> MATCHES the reference" when within tolerance.
std::vector<std::string> recompute_alternatives(const std::string & class_name, const Evidence & e, double atol,
                                                double rtol);

}  // namespace krun
