// Keras recurrent layers: SimpleRNN, GRU, LSTM (cell config flattened into the layer config) and
// RNN with a SimpleRNNCell/GRUCell/LSTMCell/StackedRNNCells cell. Config: units, activation,
// recurrent_activation, use_bias, reset_after (GRU), implementation (LSTM bias order),
// return_sequences, return_state, go_backwards, time_major, zero_output_for_mask; zero or given
// initial states; a Keras mask as the last input (layer.h): masked steps keep the states and
// output the previous step's output (zeros with zero_output_for_mask, and before any kept step).
// Kernels: one gemm for the input projection of all time steps and gates, then per step the
// recurrent gemm (all gates in one for a single sample, else one per gate) and unary
// (activations); the gate arithmetic in between is plain loops here (a few dozen values per call:
// a kernel call would cost more than the arithmetic).
#include <algorithm>
#include <cstring>

#include "activation.h"
#include "layers/factories.h"

namespace krun {

namespace {

enum class CellKind { SimpleRNN, GRU, LSTM };

// One recurrent cell: its config and weight slots. Gate column blocks: GRU z, r, h; LSTM i, f, c, o.
struct Cell {
    CellKind kind = CellKind::SimpleRNN;
    int64_t units = 0;
    Activation activation, recurrent_activation;
    bool use_bias = true;
    bool reset_after = true;        // GRU
    bool reset_after_given = true;  // false: decided from the bias shape in prepare()
    bool bias_with_input = false;   // LSTM implementation 1: (x.W + b) + h.U, else (x.W + h.U) + b
    size_t kernel = 0, recurrent_kernel = 0, bias = 0;

    int64_t gates() const { return kind == CellKind::SimpleRNN ? 1 : kind == CellKind::GRU ? 3 : 4; }
    int64_t state_count() const { return kind == CellKind::LSTM ? 2 : 1; }
    bool bias_in_projection() const { return use_bias && (kind != CellKind::LSTM || bias_with_input); }
};

// Layer classes (SimpleRNN, GRU, LSTM) or, with `cell` set, cell classes (SimpleRNNCell, ...).
bool cell_kind_of(const std::string & class_name, bool cell, CellKind & kind) {
    const std::string suffix = cell ? "Cell" : "";
    if (class_name == "SimpleRNN" + suffix) kind = CellKind::SimpleRNN;
    else if (class_name == "GRU" + suffix) kind = CellKind::GRU;
    else if (class_name == "LSTM" + suffix) kind = CellKind::LSTM;
    else return false;
    return true;
}

// The `.keras` key of a cell inside StackedRNNCells: snake_case class name, numbered per class.
const char * snake_cell_name(CellKind kind) {
    return kind == CellKind::SimpleRNN ? "simple_rnn_cell" : kind == CellKind::GRU ? "gru_cell" : "lstm_cell";
}

class Recurrent : public Layer {
public:
    explicit Recurrent(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        return_sequences_ = cfg.boolean("return_sequences", false);
        return_state_ = cfg.boolean("return_state", false);
        go_backwards_ = cfg.boolean("go_backwards", false);
        time_major_ = cfg.boolean("time_major", false);
        KRUN_CHECK(!cfg.boolean("stateful", false), context(),
                   ": stateful=true is not supported (krun starts every call from zero states)");
        zero_output_for_mask_ = cfg.boolean("zero_output_for_mask", false);

        CellKind kind;
        if (cell_kind_of(desc.class_name, false, kind)) {
            add_cell(cfg, kind, desc.keras, "cell/", "");
            return;
        }
        KRUN_CHECK(desc.class_name == "RNN", context(), ": not a recurrent layer class");
        const Config cell = cfg.child("cell");
        const std::string cell_class = cell.string("class_name");
        const Config cell_cfg(cell.child("config").json(), cat(context(), " cell ", cell_class));
        if (cell_kind_of(cell_class, true, kind)) {
            add_cell(cell_cfg, kind, desc.keras, "cell/", "");
            return;
        }
        KRUN_CHECK(cell_class == "StackedRNNCells", context(), ": unsupported cell class '", cell_class,
                   "' (expected SimpleRNNCell, GRUCell, LSTMCell or StackedRNNCells)");
        const Json & stacked = cell_cfg.json();
        KRUN_CHECK(stacked.contains("cells") && stacked["cells"].is_array() && !stacked["cells"].empty(), context(),
                   ": StackedRNNCells needs a non-empty 'cells' list");
        int counts[3] = {0, 0, 0};  // per CellKind, for the `.keras` keys
        for (const Json & entry : stacked["cells"]) {
            const Config c(entry, context());
            const std::string cls = c.string("class_name");
            KRUN_CHECK(cell_kind_of(cls, true, kind), context(),
                       ": unsupported cell '", cls, "' in StackedRNNCells (expected SimpleRNNCell, GRUCell or LSTMCell)");
            const Config one(c.child("config").json(), cat(context(), " cell ", cls));
            int & count = counts[static_cast<int>(kind)];
            const std::string key = count == 0 ? snake_cell_name(kind) : cat(snake_cell_name(kind), "_", count);
            ++count;
            // h5 names are <layer>/stacked_rnn_cells/<cell name>/kernel: the cell name picks the slot.
            add_cell(one, kind, desc.keras, cat("cell/cells/", key, "/"), one.string("name", ""));
        }
    }

    void prepare() override {
        Layer::prepare();
        for (Cell & cell : cells_)
            if (cell.kind == CellKind::GRU && !cell.reset_after_given)
                cell.reset_after = cell.use_bias && weight(cell.bias).rank() == 2;
    }

    bool accepts_mask() const override { return true; }
    bool per_sample(const std::vector<Spec> &) const override { return !time_major_; }
    int kept_mask_outputs() const override { return return_sequences_ ? 1 : 0; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        size_t states = 0;
        for (const Cell & cell : cells_) states += cell.state_count();
        const bool has_mask = masked(inputs);
        const size_t mask = has_mask ? 1 : 0;
        const bool with_states = inputs.size() == 1 + states + mask;
        KRUN_CHECK(inputs.size() == 1 + mask || with_states, context(), ": expects the sequence",
                   has_mask ? ", the mask" : "", " and optionally ", states, " initial states as inputs, got ",
                   inputs.size(), " input(s)");
        const size_t state_inputs = with_states ? states : 0;
        check_float_input(inputs, 0, 3, 3);
        const Shape & in = inputs[0].shape;
        const int64_t batch = time_major_ ? in[1] : in[0], steps = time_major_ ? in[0] : in[1];
        KRUN_CHECK(steps != 0, context(), ": the input has no time steps, shape ", shape_string(in));
        if (has_mask) {
            const Spec & m = inputs.back();
            const Shape want = {batch, steps};  // batch first even when time_major
            bool ok = m.shape.size() == 2;
            for (size_t i = 0; ok && i < 2; ++i) ok = m.shape[i] < 0 || want[i] < 0 || m.shape[i] == want[i];
            KRUN_CHECK(ok, context(), ": mask has shape ", shape_string(m.shape), ", expected ", shape_string(want));
        }
        int64_t features = in[2];
        KRUN_CHECK(features > 0, context(), ": the feature dimension must be known, input is ", shape_string(in));
        for (const Cell & cell : cells_) {
            const int64_t u = cell.units, g = cell.gates();
            check_weight(cell.kernel, {features, g * u}, cat("input features ", features, ", units ", u));
            check_weight(cell.recurrent_kernel, {u, g * u}, cat("units ", u));
            if (cell.use_bias) {
                const Shape bias = cell.kind == CellKind::GRU && cell.reset_after ? Shape{2, g * u} : Shape{g * u};
                check_weight(cell.bias, bias, cat("units ", u, cell.kind == CellKind::GRU && cell.reset_after ? ", reset_after" : ""));
            }
            features = u;
        }

        std::vector<Spec> state_specs;
        for (const Cell & cell : cells_)
            for (int64_t s = 0; s < cell.state_count(); ++s) state_specs.push_back({{batch, cell.units}});
        for (size_t i = 1; i <= state_inputs; ++i) {
            check_float_input(inputs, i, 2, 2);
            const Shape & given = inputs[i].shape, & want = state_specs[i - 1].shape;
            const bool ok = (given[0] < 0 || want[0] < 0 || given[0] == want[0]) && given[1] == want[1];
            KRUN_CHECK(ok, context(), ": initial state ", i - 1, " has shape ", shape_string(given), ", expected ",
                       shape_string(want));
        }

        std::vector<Spec> outputs;
        if (!return_sequences_) outputs.push_back({{batch, features}});
        else if (time_major_) outputs.push_back({{steps, batch, features}});
        else outputs.push_back({{batch, steps, features}});
        if (return_state_) outputs.insert(outputs.end(), state_specs.begin(), state_specs.end());
        return outputs;
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const int64_t batch = x.dim(time_major_ ? 1 : 0), steps = x.dim(time_major_ ? 0 : 1);
        int64_t features = x.dim(2);

        // The sequence in processing order, step-major: seq[s][b][:] (go_backwards reads t = T-1-s),
        // and the mask in the same order (empty: every step counts).
        const bool has_mask = inputs.size() > 1 && inputs.back()->dtype() == DType::Int32;
        std::vector<float> seq(static_cast<size_t>(steps * batch * features));
        std::vector<char> keep(has_mask ? static_cast<size_t>(steps * batch) : 0);
        for (int64_t s = 0; s < steps; ++s) {
            const int64_t t = go_backwards_ ? steps - 1 - s : s;
            for (int64_t b = 0; b < batch; ++b) {
                const int64_t row = time_major_ ? t * batch + b : b * steps + t;
                std::memcpy(&seq[(s * batch + b) * features], x.data() + row * features, features * sizeof(float));
                if (has_mask) keep[s * batch + b] = inputs.back()->data_i32()[b * steps + t] != 0;
            }
        }

        // Stacked cells per time step equal running each cell over the whole output sequence of
        // the previous one (cell k at step t only needs cell k-1 at step t and itself at t-1).
        size_t next_input = 1, next_state_output = 1;
        for (const Cell & cell : cells_) {
            const int64_t block = batch * cell.units;
            std::vector<float> h_seq(static_cast<size_t>(steps * block));
            std::vector<float> h0(static_cast<size_t>(block), 0.f), c(static_cast<size_t>(block), 0.f);
            if (inputs.size() > 1 + (has_mask ? 1 : 0)) {
                std::memcpy(h0.data(), inputs[next_input++]->data(), block * sizeof(float));
                if (cell.kind == CellKind::LSTM) std::memcpy(c.data(), inputs[next_input++]->data(), block * sizeof(float));
            }
            run_cell(cell, seq.data(), steps, batch, features, h0.data(), keep, h_seq.data(), c.data(), kernels);
            if (return_state_) {
                std::memcpy(outputs[next_state_output++].data(), &h_seq[(steps - 1) * block], block * sizeof(float));
                if (cell.kind == CellKind::LSTM)
                    std::memcpy(outputs[next_state_output++].data(), c.data(), block * sizeof(float));
            }
            seq = std::move(h_seq);
            features = cell.units;
        }
        // seq holds the states; a masked step outputs zeros or the previous step's output, which
        // is zeros before the first kept step (Keras' rnn loop starts from a zero output).
        for (int64_t s = 0; s < (keep.empty() ? 0 : steps); ++s)
            for (int64_t b = 0; b < batch; ++b) {
                if (keep[s * batch + b]) continue;
                float * y = &seq[(s * batch + b) * features];
                if (zero_output_for_mask_ || s == 0) std::fill_n(y, features, 0.f);
                else std::copy_n(y - batch * features, features, y);
            }

        float * out = outputs[0].data();
        if (!return_sequences_) {
            std::memcpy(out, &seq[(steps - 1) * batch * features], batch * features * sizeof(float));
        } else if (time_major_) {
            std::memcpy(out, seq.data(), seq.size() * sizeof(float));
        } else {
            for (int64_t s = 0; s < steps; ++s)
                for (int64_t b = 0; b < batch; ++b)
                    std::memcpy(out + (b * steps + s) * features, &seq[(s * batch + b) * features], features * sizeof(float));
        }
    }

private:
    void add_cell(const Config & cfg, CellKind kind, KerasVersion keras, const std::string & keras_prefix,
                  const std::string & hint) {
        Cell cell;
        cell.kind = kind;
        cell.units = cfg.integer("units");
        KRUN_CHECK(cell.units > 0, context(), ": units must be positive, got ", cell.units);
        const Json & json = cfg.json();
        auto activation = [&](const char * key, const char * fallback) {
            const Activation act = parse_activation(json.contains(key) ? json[key] : Json(fallback), keras, context());
            KRUN_CHECK(act.kind != Activation::Kind::Glu, context(), ": ", key, " 'glu' is not supported in a recurrent cell");
            return act;
        };
        cell.activation = activation("activation", "tanh");
        if (kind != CellKind::SimpleRNN) cell.recurrent_activation = activation("recurrent_activation", "sigmoid");
        cell.use_bias = cfg.boolean("use_bias", true);
        if (kind == CellKind::GRU) {
            // Files without the key (TF.js-saved) are told apart by the bias shape once bound.
            cell.reset_after_given = cfg.has("reset_after");
            cell.reset_after = cfg.boolean("reset_after", true);
        }
        cell.bias_with_input = kind == CellKind::LSTM && cfg.integer("implementation", 2) == 1;
        cell.kernel = declare_weight("kernel", keras_prefix + "vars/0", hint);
        cell.recurrent_kernel = declare_weight("recurrent_kernel", keras_prefix + "vars/1", hint);
        if (cell.use_bias) cell.bias = declare_weight("bias", keras_prefix + "vars/2", hint);
        cells_.push_back(cell);
    }

    // Runs `cell` over x [steps, batch, in] (step-major): h_seq [steps, batch, units] receives h
    // after every step; c (LSTM) holds the initial cell state on entry and the final one on exit.
    // Where keep[s * batch + b] is 0 (masked), the step leaves h and c of that sample unchanged.
    void run_cell(const Cell & cell, const float * x, int64_t steps, int64_t batch, int64_t in, const float * h0,
                  const std::vector<char> & keep, float * h_seq, float * c, const Kernels & kernels) const {
        const int64_t u = cell.units, gates = cell.gates(), n = batch * u, rows = steps * batch;
        const float * kernel = weight(cell.kernel).data();
        const float * recurrent = weight(cell.recurrent_kernel).data();
        const float * bias = cell.use_bias ? weight(cell.bias).data() : nullptr;
        const bool gru_reset_after = cell.kind == CellKind::GRU && cell.reset_after;
        // GRU reset_after: bias row 0 goes with x.W, row 1 with h.U.
        const float * recurrent_bias = bias && gru_reset_after ? bias + gates * u : nullptr;

        // The input projection of every step and gate in one gemm, x.W (+ input bias) as
        // [steps][batch][gates * u], then laid out step- and gate-major: proj[s][g][b][:] =
        // x_s.W_g (+ bias_g) (the same layout for a single sample), so that the gates of one step
        // are side by side.
        std::vector<float> all_gates(static_cast<size_t>(rows * gates * u)), proj(batch > 1 ? all_gates.size() : 0);
        // c[m x n] (+)= a[m x k].b (+ bias), b a block of columns of a [k x gates * u] kernel.
        auto gemm = [&](int64_t m, int64_t n, int64_t k, const float * a, const float * b, const float * gemm_bias,
                        float * c, bool accumulate) {
            GemmArgs g;
            g.m = m, g.n = n, g.k = k;
            g.a = a, g.lda = k;
            g.b = b, g.ldb = gates * u;
            g.bias = gemm_bias;
            g.c = c, g.ldc = n;
            g.accumulate = accumulate;
            kernels.gemm(g);
        };
        gemm(rows, gates * u, in, x, kernel, cell.bias_in_projection() ? bias : nullptr, all_gates.data(), false);
        for (int64_t s = 0; s < (batch > 1 ? steps : 0); ++s)
            for (int64_t b = 0; b < batch; ++b)
                for (int64_t g = 0; g < gates; ++g)
                    std::copy_n(&all_gates[((s * batch + b) * gates + g) * u], u, &proj[((s * gates + g) * batch + b) * u]);
        float * const step_gates = batch > 1 ? proj.data() : all_gates.data();
        // out (+)= h.U (+ bias) for gates [g, g + count), [batch][count * u]: the gate blocks of
        // [count][batch][u] when batch is 1 or count 1.
        auto recurrent_gemm = [&](const float * h, int64_t g, int64_t count, const float * gate_bias, float * out,
                                  bool accumulate) {
            gemm(batch, count * u, u, h, recurrent + g * u, gate_bias, out, accumulate);
        };
        // The same for gates [0, count), gate g's [batch][u] block at out + g * n: one gemm for a
        // single sample, else one per gate.
        auto recurrent_gates_gemm = [&](const float * h, int64_t count, const float * gate_bias, float * out,
                                        bool accumulate) {
            if (batch == 1) return recurrent_gemm(h, 0, count, gate_bias, out, accumulate);
            for (int64_t g = 0; g < count; ++g)
                recurrent_gemm(h, g, 1, gate_bias ? gate_bias + g * u : nullptr, out + g * n, accumulate);
        };
        // `blocks` gate blocks of n values from v on (adjacent gates of one step).
        auto act = [&](const Activation & a, float * v, int64_t blocks = 1) {
            apply_activation(a, v, v, blocks * n, u, kernels);
        };

        std::vector<float> scratch(static_cast<size_t>(3 * n)), c_prev(keep.empty() ? 0 : static_cast<size_t>(n));
        for (int64_t s = 0; s < steps; ++s) {
            const float * h_prev = s == 0 ? h0 : h_seq + (s - 1) * n;
            float * h = h_seq + s * n;
            float * gate[4] = {};
            for (int64_t g = 0; g < gates; ++g) gate[g] = step_gates + (s * gates + g) * n;
            if (!keep.empty() && cell.kind == CellKind::LSTM) std::copy(c, c + n, c_prev.begin());

            switch (cell.kind) {
            case CellKind::SimpleRNN:  // h = act((x.W + b) + h_prev.U)
                recurrent_gemm(h_prev, 0, 1, nullptr, gate[0], true);
                apply_activation(cell.activation, gate[0], h, n, u, kernels);
                break;
            case CellKind::LSTM: {  // gates i, f, c, o
                recurrent_gates_gemm(h_prev, 4, bias && !cell.bias_with_input ? bias : nullptr, gate[0], true);
                act(cell.recurrent_activation, gate[0], 2);  // i and f
                act(cell.activation, gate[2]);
                act(cell.recurrent_activation, gate[3]);
                for (int64_t i = 0; i < n; ++i) c[i] = gate[1][i] * c[i] + gate[0][i] * gate[2][i];  // f*c_prev + i*act(z_c)
                apply_activation(cell.activation, c, gate[0], n, u, kernels);
                for (int64_t i = 0; i < n; ++i) h[i] = gate[3][i] * gate[0][i];  // o * act(c)
                break;
            }
            case CellKind::GRU: {  // gates z, r, h
                float * m[3] = {&scratch[0], &scratch[n], &scratch[2 * n]};
                recurrent_gates_gemm(h_prev, gru_reset_after ? 3 : 2, recurrent_bias, m[0], false);
                for (int64_t i = 0; i < 2 * n; ++i) gate[0][i] += m[0][i];  // z and r, adjacent
                act(cell.recurrent_activation, gate[0], 2);
                const float * z = gate[0], * r = gate[1];
                if (gru_reset_after) {
                    for (int64_t i = 0; i < n; ++i) gate[2][i] += r[i] * m[2][i];  // + r * (h_prev.U_h + b_h)
                } else {
                    for (int64_t i = 0; i < n; ++i) m[0][i] = r[i] * h_prev[i];  // then + (r * h_prev).U_h
                    recurrent_gemm(m[0], 2, 1, nullptr, m[2], false);
                    for (int64_t i = 0; i < n; ++i) gate[2][i] += m[2][i];
                }
                act(cell.activation, gate[2]);  // hh
                for (int64_t i = 0; i < n; ++i) h[i] = z[i] * h_prev[i] + (1.f - z[i]) * gate[2][i];
                break;
            }
            }
            for (int64_t b = 0; b < static_cast<int64_t>(keep.empty() ? 0 : batch); ++b)
                if (!keep[s * batch + b]) {
                    std::copy(h_prev + b * u, h_prev + (b + 1) * u, h + b * u);
                    if (cell.kind == CellKind::LSTM) std::copy(&c_prev[b * u], &c_prev[(b + 1) * u], c + b * u);
                }
        }
    }

    // A last input of dtype Int32 is the mask (layer.h); states are float32.
    static bool masked(const std::vector<Spec> & inputs) { return inputs.size() > 1 && inputs.back().dtype == DType::Int32; }

    std::vector<Cell> cells_;
    bool return_sequences_ = false, return_state_ = false, go_backwards_ = false, time_major_ = false;
    bool zero_output_for_mask_ = false;
};

}  // namespace

std::unique_ptr<Layer> make_rnn(const LayerDesc & desc) { return std::make_unique<Recurrent>(desc); }

}  // namespace krun
