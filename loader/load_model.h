// Internal (not installed): the graph behind krun::Model, for tools that look inside a model
// (krun check observes every layer's outputs).
#pragma once

#include <memory>
#include <string>

#include "graph.h"

namespace krun {

// What Model::load does, returning the graph itself.
std::shared_ptr<Graph> load_graph(const std::string & model_json_path, const Options & options);

}  // namespace krun
