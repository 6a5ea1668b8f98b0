// The one list of supported Keras classes.
#include <algorithm>
#include <iterator>

#include "layers/factories.h"

namespace krun {

namespace {

struct Entry {
    const char * class_name;
    LayerFactory make;
};

const Entry kLayers[] = {
    {"Activation", make_activation},
    {"ActivityRegularization", make_identity},
    {"Add", make_merge},
    {"AlphaDropout", make_identity},
    {"Average", make_merge},
    {"AveragePooling1D", make_pooling},
    {"AveragePooling2D", make_pooling},
    {"BatchNormalization", make_batch_normalization},
    {"Bidirectional", make_bidirectional},
    {"Concatenate", make_concatenate},
    {"Conv1D", make_conv},
    {"Conv1DTranspose", make_conv_transpose},
    {"Conv2D", make_conv},
    {"Conv2DTranspose", make_conv_transpose},
    {"Cropping1D", make_cropping},
    {"Cropping2D", make_cropping},
    {"Dense", make_dense},
    {"DepthwiseConv1D", make_depthwise_conv},
    {"DepthwiseConv2D", make_depthwise_conv},
    {"Dot", make_dot},
    {"Dropout", make_identity},
    {"ELU", make_elu},
    {"Embedding", make_embedding},
    {"Flatten", make_flatten},
    {"GRU", make_rnn},
    {"GaussianDropout", make_identity},
    {"GaussianNoise", make_identity},
    {"GlobalAveragePooling1D", make_global_pooling},
    {"GlobalAveragePooling2D", make_global_pooling},
    {"GlobalMaxPooling1D", make_global_pooling},
    {"GlobalMaxPooling2D", make_global_pooling},
    {"LSTM", make_rnn},
    {"LayerNormalization", make_layer_normalization},
    {"LeakyReLU", make_leaky_relu},
    {"Masking", make_identity},
    {"MaxPooling1D", make_pooling},
    {"MaxPooling2D", make_pooling},
    {"Maximum", make_merge},
    {"Minimum", make_merge},
    {"Multiply", make_merge},
    {"Normalization", make_normalization},
    {"PReLU", make_prelu},
    {"Permute", make_permute},
    {"RNN", make_rnn},
    {"ReLU", make_relu},
    {"RepeatVector", make_repeat_vector},
    {"Rescaling", make_rescaling},
    {"Reshape", make_reshape},
    {"SeparableConv1D", make_separable_conv},
    {"SeparableConv2D", make_separable_conv},
    {"SimpleRNN", make_rnn},
    {"Softmax", make_softmax},
    {"SpatialDropout1D", make_identity},
    {"SpatialDropout2D", make_identity},
    {"Subtract", make_merge},
    {"TFOpLambda", make_tf_op_lambda},
    {"ThresholdedReLU", make_thresholded_relu},
    {"TimeDistributed", make_time_distributed},
    {"UpSampling1D", make_upsampling},
    {"UpSampling2D", make_upsampling},
    {"ZeroPadding1D", make_zero_padding},
    {"ZeroPadding2D", make_zero_padding},
};

// keras.ops classes whose names are also layer classes (the loader's is_operation tells them
// apart: an op config has no `trainable` flag).
bool is_shared_op_name(const std::string & c) {
    static const char * const names[] = {"Add", "Average", "Concatenate", "Dot", "Maximum",
                                         "Minimum", "Multiply", "Reshape", "Softmax", "Subtract"};
    return std::any_of(std::begin(names), std::end(names), [&](const char * n) { return c == n; });
}

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerDesc & desc) {
    // A few layers (SpatialDropout1D) also write configs without `trainable`: only unknown or
    // shared class names are operations.
    const Entry * layer = nullptr;
    for (const Entry & e : kLayers)
        if (desc.class_name == e.class_name) layer = &e;
    if (desc.is_operation && (!layer || is_shared_op_name(desc.class_name))) return make_operation(desc);
    if (layer) return layer->make(desc);
    std::string known;
    for (const Entry & e : kLayers) known += std::string(known.empty() ? "" : ", ") + e.class_name;
    fail(desc.context(), ": unknown layer class '", desc.class_name, "'. Supported: ", known,
         ", and the Sequential/Functional/Model containers");
}

}  // namespace krun
