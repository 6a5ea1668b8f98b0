// consumer MODEL.json: loads the model with the installed krun, runs it on inputs filled with
// 0.5 (batch 1, unknown dimensions 4) and prints each output's shape and first value.
#include <cmath>
#include <iostream>

#include <krun/krun.h>

int main(int argc, char ** argv) {
    if (argc != 2) {
        std::cerr << "usage: consumer MODEL.json\n";
        return 2;
    }
    try {
        const krun::Model model = krun::Model::load(argv[1]);
        std::vector<krun::Tensor> inputs;
        for (const krun::TensorInfo & info : model.inputs()) {
            std::vector<int64_t> shape = info.shape;
            for (size_t d = 0; d < shape.size(); ++d)
                if (shape[d] < 0) shape[d] = d == 0 ? 1 : 4;
            krun::Tensor t(shape, info.dtype);
            for (int64_t i = 0; i < t.size(); ++i) {
                if (t.dtype() == krun::DType::Float32) t.data()[i] = 0.5f;
                else t.data_i32()[i] = 1;
            }
            inputs.push_back(t);
        }
        const std::vector<krun::Tensor> outputs = model.run(inputs);
        for (size_t k = 0; k < outputs.size(); ++k) {
            const krun::Tensor & out = outputs[k];
            const double first = out.size() == 0 ? 0 : out.dtype() == krun::DType::Float32 ? out.data()[0] : out.data_i32()[0];
            std::cout << model.outputs()[k].name << " " << krun::shape_string(out.shape()) << " first " << first << "\n";
            if (!std::isfinite(first)) return 1;
        }
    } catch (const krun::Error & e) {
        std::cerr << "consumer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
