// model.json (format "layers-model") -> ModelDesc: the three topology variants (converter with
// model_config, the `.keras` path without backend, TF.js saves with a bare config), Sequential
// and Functional models at any depth, both inbound-node dialects (format-spec sections 1.2-1.12).
#pragma once

#include <string>

#include "graph.h"

namespace krun {

struct ModelFile {
    std::string path;   // the model.json path as given
    std::string folder; // its folder (shard paths are relative to it)
    Json document;
    ModelDesc top;
    KerasVersion keras = KerasVersion::Keras2;
    std::string producer;  // "keras 2.15.0, TensorFlow.js Converter v4.22.0"
};

ModelFile read_model_json(const std::string & path);

}  // namespace krun
