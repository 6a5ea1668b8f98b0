// Factories of every supported Keras layer class (implemented in runtime/layers/*.cpp).
#pragma once

#include "layer.h"

namespace krun {

#define KRUN_FACTORY(name) std::unique_ptr<Layer> name(const LayerDesc & desc)
// dense.cpp
KRUN_FACTORY(make_dense);
// conv.cpp: Conv1D, Conv2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1DTranspose, Conv2DTranspose
KRUN_FACTORY(make_conv);
KRUN_FACTORY(make_depthwise_conv);
KRUN_FACTORY(make_separable_conv);
KRUN_FACTORY(make_conv_transpose);
// pooling.cpp: Max/AveragePooling1D/2D, GlobalAverage/GlobalMaxPooling1D/2D
KRUN_FACTORY(make_pooling);
KRUN_FACTORY(make_global_pooling);
// padding.cpp: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D
KRUN_FACTORY(make_zero_padding);
KRUN_FACTORY(make_cropping);
KRUN_FACTORY(make_upsampling);
// normalization.cpp: BatchNormalization, LayerNormalization, Rescaling, Normalization
KRUN_FACTORY(make_batch_normalization);
KRUN_FACTORY(make_layer_normalization);
KRUN_FACTORY(make_rescaling);
KRUN_FACTORY(make_normalization);
// activation_layers.cpp: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU
KRUN_FACTORY(make_activation);
KRUN_FACTORY(make_relu);
KRUN_FACTORY(make_leaky_relu);
KRUN_FACTORY(make_prelu);
KRUN_FACTORY(make_elu);
KRUN_FACTORY(make_softmax);
KRUN_FACTORY(make_thresholded_relu);
// merge.cpp: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot
KRUN_FACTORY(make_merge);
KRUN_FACTORY(make_concatenate);
KRUN_FACTORY(make_dot);
// reshape.cpp: Reshape, Flatten, Permute, RepeatVector; identity.cpp: Dropout and other no-ops
KRUN_FACTORY(make_reshape);
KRUN_FACTORY(make_flatten);
KRUN_FACTORY(make_permute);
KRUN_FACTORY(make_repeat_vector);
KRUN_FACTORY(make_identity);
// embedding.cpp
KRUN_FACTORY(make_embedding);
// rnn.cpp: SimpleRNN, GRU, LSTM, RNN (with cells); wrappers.cpp: Bidirectional, TimeDistributed
KRUN_FACTORY(make_rnn);
KRUN_FACTORY(make_bidirectional);
KRUN_FACTORY(make_time_distributed);
// ops.cpp: TFOpLambda and Keras 3 operation nodes (keras.ops.*)
KRUN_FACTORY(make_tf_op_lambda);
KRUN_FACTORY(make_operation);
#undef KRUN_FACTORY

}  // namespace krun
