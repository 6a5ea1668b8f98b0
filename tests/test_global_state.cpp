// Loading and running a model never changes process-global state that the host program owns:
// OpenMP settings of the calling thread, the C and C++ locales, the standard streams' format,
// the floating-point environment (rounding, enabled traps, flush-to-zero / denormals-are-zero),
// the terminate handler and the SIGSEGV/SIGFPE handlers. errno is not compared (library calls may
// set it); a stale errno must not be taken for a failure either.
#include <catch2/catch.hpp>

#include <omp.h>

#include <cerrno>
#include <cfenv>
#include <clocale>
#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <locale>
#include <sstream>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "loader/npy.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;

namespace {

std::string handler_of(int signal_number) {
    struct sigaction action {};
    sigaction(signal_number, nullptr, &action);
    std::ostringstream out;
    out << reinterpret_cast<uintptr_t>(action.sa_sigaction) << " flags " << action.sa_flags;
    return out.str();
}

// Everything compared, one "name=value" line each, so that a failing CHECK shows what changed.
std::string global_state() {
    std::ostringstream out;
    out << "omp_get_max_threads=" << omp_get_max_threads() << "\n";
    out << "omp_get_dynamic=" << omp_get_dynamic() << "\n";
    out << "omp_get_max_active_levels=" << omp_get_max_active_levels() << "\n";
    out << "C locale=" << std::setlocale(LC_ALL, nullptr) << "\n";
    out << "C++ global locale=" << std::locale().name() << "\n";
    for (std::ostream * stream : {&std::cout, &std::cerr})
        out << (stream == &std::cout ? "cout" : "cerr") << " flags=" << stream->flags() << " precision=" << stream->precision()
            << " width=" << stream->width() << " fill=" << int(stream->fill()) << "\n";
    out << "fegetround=" << fegetround() << "\n";
    out << "fegetexcept (enabled traps)=" << fegetexcept() << "\n";
#if defined(__x86_64__) || defined(__i386__)
    // Control bits only: the low 6 bits are sticky exception flags that arithmetic sets.
    out << "MXCSR control=" << (_mm_getcsr() & ~0x3Fu) << " (FTZ bit 15, DAZ bit 6, rounding 13-14, masks 7-12)\n";
#endif
    out << "terminate handler=" << reinterpret_cast<uintptr_t>(std::get_terminate()) << "\n";
    out << "SIGSEGV handler=" << handler_of(SIGSEGV) << "\n";
    out << "SIGFPE handler=" << handler_of(SIGFPE) << "\n";
    return out.str();
}

// Sets values that differ from the defaults, so that krun resetting something to its default
// (say the thread count to the number of cores) shows too; restores the defaults at the end.
struct UnusualSettings {
    UnusualSettings() : threads(omp_get_max_threads()) {
        omp_set_num_threads(3);  // neither a core count here nor one of the Options.threads tried
        std::cout.precision(3);
        std::cout.setf(std::ios::scientific, std::ios::floatfield);
    }
    ~UnusualSettings() {
        omp_set_num_threads(threads);
        std::cout.precision(6);
        std::cout.unsetf(std::ios::floatfield);
    }
    const int threads;
};

}  // namespace

TEST_CASE("global state: Model::load and Model::run leave process-global settings unchanged", "[global_state]") {
    const UnusualSettings settings;
    const std::string before = global_state();
    // A CNN (conv, pooling, dense kernels), an RNN and a MobileNet (depthwise, padding).
    for (const char * name : {"tfk_digits_cnn", "tfk_rnn_lstm_simple", "tfk_mobilenet_v2_035"}) {
        const Fixture f = fixture(name);
        // Options.threads: the OpenMP default, 1 and 2, with the fast (OpenMP) kernels; then the
        // reference kernels.
        for (const auto & [threads, reference] : {std::pair{0, false}, {1, false}, {2, false}, {1, true}}) {
            INFO(name << ", Options.threads " << threads << (reference ? ", reference kernels" : ", fast kernels"));
            Options options;
            options.threads = threads;
            options.reference_kernels = reference;
            errno = EDOM;  // stale: must not be read as a failure
            const Model model = Model::load(f.model_json, options);
            CHECK(global_state() == before);
            const std::vector<Tensor> outputs = model.run(read_all(f.inputs));
            CHECK(outputs.size() == model.outputs().size());
            CHECK(global_state() == before);
        }
    }
}

TEST_CASE("global state: a failing load and a refused run leave process-global settings unchanged", "[global_state]") {
    const UnusualSettings settings;
    const std::string before = global_state();
    CHECK_THROWS_AS(Model::load(KRUN_MODELS_DIR "/no_such_model/model.json"), Error);
    CHECK(global_state() == before);
    Options options;
    options.threads = 1;
    const Model model = Model::load(KRUN_MODELS_DIR "/tfk_digits_cnn/model.json", options);
    CHECK_THROWS_AS(model.run({Tensor({1, 3})}), Error);  // wrong input shape
    CHECK(global_state() == before);
}
