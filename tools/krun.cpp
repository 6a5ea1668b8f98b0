// krun command line: run a TF.js layers model on .npy inputs (see README).
#include <cstdio>
#include <iostream>

#include "krun/krun.h"
#include "loader/npy.h"

int main(int argc, char ** argv) {
    if (argc < 2) {
        std::cerr << "usage: krun MODEL.json [INPUT.npy ...]\n";
        return 2;
    }
    try {
        krun::Model model = krun::Model::load(argv[1]);
        std::vector<krun::Tensor> inputs;
        for (int i = 2; i < argc; ++i) inputs.push_back(krun::read_npy(argv[i]));
        std::cout << model.summary();
        if (inputs.empty()) return 0;
        auto outputs = model.run(inputs);
        for (size_t i = 0; i < outputs.size(); ++i)
            std::cout << model.outputs()[i].name << " " << krun::shape_string(outputs[i].shape()) << "\n";
    } catch (const krun::Error & e) {
        std::cerr << "krun: error: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
