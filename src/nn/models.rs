//! The standard networks of the lottery-ticket literature, on tch.
//!
//! | name | architecture | source |
//! |---|---|---|
//! | `lenet300` | fc 300-100-10 | Frankle & Carbin 2019 |
//! | `conv2`, `conv4`, `conv6` | (conv3×3 ×2, maxpool) ×1/2/3, fc 256-256-10 | Frankle & Carbin 2019 |
//! | `resnet20` | CIFAR ResNet-20 (16/32/64 channels, batch norm, 1×1 projection shortcuts) | He et al. 2016; open_lth |
//! | `vgg16` | CIFAR VGG-16 with batch norm, global average pooling, fc 512-10 | open_lth |
//! | `conv1d` | 1-d conv 25 channels (kernel 5, stride 2) → 25 (3, 2) → 25 (3, 2), fc 10, biases, ReLU | MNIST-1D's `ConvBase` (Greydanus 2020) |
//!
//! All accept CIFAR (3×32×32) and MNIST-shaped (1×28×28) inputs: flattened sizes are computed
//! from the input shape and VGG pools adaptively. Prunable tensors are the conv and linear
//! `weight`s (biases and batch norm never); the output layer's weight is listed separately so a
//! preset can exclude it.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::Result;

pub use crate::run::kinds::{Arch, Init};

/// A network: its variables and its forward pass.
#[derive(Debug)]
pub struct Network {
    /// Architecture.
    pub arch: Arch,
    /// Names of the prunable tensors (conv and linear weights), in forward order.
    pub prunable: Vec<String>,
    /// Name of the output layer's weight (a member of `prunable`).
    pub output: String,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Mlp(Vec<nn::Linear>),
    Conv {
        convs: Vec<Vec<Cv>>,
        fcs: Vec<nn::Linear>,
    },
    Vgg {
        layers: Vec<Option<(Cv, nn::BatchNorm)>>,
        fc: nn::Linear,
    },
    Resnet {
        stem: Box<(Cv, nn::BatchNorm)>,
        blocks: Vec<Block>,
        fc: nn::Linear,
    },
    /// 1-d convolutions as 2-d ones with $1\times k$ kernels (stride $(1, 2)$, padding
    /// $(0, 1)$) on inputs of height 1.
    Conv1d {
        convs: Vec<nn::Conv2D>,
        fc: nn::Linear,
    },
}

#[derive(Debug)]
struct Block {
    c1: Cv,
    b1: nn::BatchNorm,
    c2: Cv,
    b2: nn::BatchNorm,
    shortcut: Option<(Cv, nn::BatchNorm)>,
}

/// A 2-d convolution with the stride and padding the functional forward pass needs (tch keeps
/// them private).
#[derive(Debug)]
struct Cv {
    conv: nn::Conv2D,
    stride: i64,
    padding: i64,
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64) -> Cv {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ..Default::default()
    };
    Cv {
        conv: nn::conv2d(p, i, o, k, cfg),
        stride,
        padding: k / 2,
    }
}

/// Linear layers `fc1`, `fc2`, … between consecutive `widths`, their weights listed as prunable.
fn fc_stack(vs: &nn::Path, widths: &[i64], prunable: &mut Vec<String>) -> Vec<nn::Linear> {
    widths
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            prunable.push(format!("fc{}.weight", l + 1));
            nn::linear(vs / format!("fc{}", l + 1), w[0], w[1], Default::default())
        })
        .collect()
}

fn conv_b(p: nn::Path, i: i64, o: i64) -> Cv {
    let cfg = nn::ConvConfig {
        padding: 1,
        ..Default::default()
    };
    Cv {
        conv: nn::conv2d(p, i, o, 3, cfg),
        stride: 1,
        padding: 1,
    }
}

impl Network {
    /// Build `arch` for inputs of shape `input = [C, H, W]` and `classes` outputs in the root of
    /// `store`, then initialize its weights with `init` (seed with `tch::manual_seed` first);
    /// `Arch::Mlp` gets LeNet-300-100's hidden widths (see [`Network::build`]).
    pub fn new(
        store: &nn::VarStore,
        arch: Arch,
        input: [usize; 3],
        classes: usize,
        init: Init,
    ) -> Result<Self> {
        Self::build(store, arch, &[300, 100], input, classes, init)
    }

    /// [`Network::new`] with the hidden widths of `Arch::Mlp` (ignored by the other models).
    pub fn build(
        store: &nn::VarStore,
        arch: Arch,
        hidden: &[usize],
        input: [usize; 3],
        classes: usize,
        init: Init,
    ) -> Result<Self> {
        let root = store.root();
        let vs = &root;
        let [c, h, w] = input.map(|v| v as i64);
        let k = classes as i64;
        let mut prunable = Vec::new();
        let body = match arch {
            Arch::Lenet300 => {
                let widths = [c * h * w, 300, 100, k];
                Body::Mlp(fc_stack(vs, &widths, &mut prunable))
            }
            Arch::Mlp => {
                if hidden.is_empty() || hidden.contains(&0) {
                    return Err(crate::Error::param(
                        "hidden",
                        format!("{hidden:?}: one or more widths, each >= 1"),
                    ));
                }
                let mut widths = vec![c * h * w];
                widths.extend(hidden.iter().map(|&v| v as i64));
                widths.push(k);
                Body::Mlp(fc_stack(vs, &widths, &mut prunable))
            }
            Arch::Conv1d => {
                let (mut len, mut channels) = (w, c);
                let mut convs = Vec::new();
                for (l, kernel) in [5i64, 3, 3].into_iter().enumerate() {
                    let name = format!("conv{}", l + 1);
                    let cfg = nn::ConvConfigND::<[i64; 2]> {
                        stride: [1, 2],
                        padding: [0, 1],
                        dilation: [1, 1],
                        groups: 1,
                        bias: true,
                        ws_init: nn::Init::Const(0.0),
                        bs_init: nn::Init::Const(0.0),
                        padding_mode: nn::PaddingMode::Zeros,
                    };
                    convs.push(nn::conv(vs / name.as_str(), channels, 25, [1, kernel], cfg));
                    prunable.push(format!("{name}.weight"));
                    len = (len + 2 - kernel) / 2 + 1;
                    channels = 25;
                }
                if h != 1 || len < 1 {
                    return Err(crate::Error::Shape(format!(
                        "conv1d needs inputs of shape [C, 1, W] with W >= 5, not [{c}, {h}, {w}]"
                    )));
                }
                prunable.push("fc.weight".into());
                Body::Conv1d {
                    convs,
                    fc: nn::linear(vs / "fc", channels * len, k, Default::default()),
                }
            }
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 => {
                let stages = match arch {
                    Arch::Conv2 => 1,
                    Arch::Conv4 => 2,
                    _ => 3,
                };
                let mut ch = c;
                let mut convs = Vec::new();
                for s in 0..stages {
                    let out = 64 << s;
                    let mut stage = Vec::new();
                    for j in 0..2 {
                        let name = format!("conv{}", 2 * s + j + 1);
                        prunable.push(format!("{name}.weight"));
                        stage.push(conv_b(vs / name, ch, out));
                        ch = out;
                    }
                    convs.push(stage);
                }
                let (hh, ww) = (h >> stages, w >> stages);
                let widths = [ch * hh * ww, 256, 256, k];
                let fcs = fc_stack(vs, &widths, &mut prunable);
                Body::Conv { convs, fcs }
            }
            Arch::Vgg16 => {
                let plan: [i64; 17] = [
                    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512,
                ];
                let mut ch = c;
                let mut layers = Vec::new();
                let mut idx = 0;
                for &o in &plan {
                    if o == 0 {
                        layers.push(None);
                        continue;
                    }
                    let name = format!("conv{idx}");
                    prunable.push(format!("{name}.weight"));
                    let cv = conv(vs / name.as_str(), ch, o, 3, 1);
                    let bn = nn::batch_norm2d(vs / format!("bn{idx}"), o, Default::default());
                    layers.push(Some((cv, bn)));
                    ch = o;
                    idx += 1;
                }
                prunable.push("fc.weight".into());
                Body::Vgg {
                    layers,
                    fc: nn::linear(vs / "fc", 512, k, Default::default()),
                }
            }
            Arch::Resnet20 => {
                prunable.push("conv.weight".into());
                let stem = (
                    conv(vs / "conv", c, 16, 3, 1),
                    nn::batch_norm2d(vs / "bn", 16, Default::default()),
                );
                let mut blocks = Vec::new();
                let mut ch = 16;
                for (s, &out) in [16i64, 32, 64].iter().enumerate() {
                    for b in 0..3 {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        let p = vs / format!("block{s}_{b}");
                        for n in ["conv1", "conv2"] {
                            prunable.push(format!("block{s}_{b}.{n}.weight"));
                        }
                        let shortcut = (stride != 1 || ch != out).then(|| {
                            prunable.push(format!("block{s}_{b}.shortcut.weight"));
                            (
                                conv(&p / "shortcut", ch, out, 1, stride),
                                nn::batch_norm2d(&p / "shortcut_bn", out, Default::default()),
                            )
                        });
                        blocks.push(Block {
                            c1: conv(&p / "conv1", ch, out, 3, stride),
                            b1: nn::batch_norm2d(&p / "bn1", out, Default::default()),
                            c2: conv(&p / "conv2", out, out, 3, 1),
                            b2: nn::batch_norm2d(&p / "bn2", out, Default::default()),
                            shortcut,
                        });
                        ch = out;
                    }
                }
                prunable.push("fc.weight".into());
                Body::Resnet {
                    stem: Box::new(stem),
                    blocks,
                    fc: nn::linear(vs / "fc", 64, k, Default::default()),
                }
            }
        };
        let output = prunable
            .last()
            .cloned()
            .expect("every model has an output layer");
        let net = Network {
            arch,
            prunable,
            output,
            body,
        };
        net.initialize(store, init);
        Ok(net)
    }

    /// Draw new weights with `init` (seed with `tch::manual_seed` first).
    pub fn reinitialize(&self, store: &nn::VarStore, init: Init) {
        self.initialize(store, init)
    }

    fn initialize(&self, store: &nn::VarStore, init: Init) {
        // Sorted: `variables()` is a hash map, and the draws must go to the tensors in the same
        // order in every process for a seed to determine the initialization.
        let mut vars: Vec<(String, Tensor)> = store.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        tch::no_grad(|| {
            for (name, mut t) in vars {
                if name.ends_with(".weight") && t.dim() >= 2 {
                    let size = t.size();
                    let receptive: i64 = size[2..].iter().product();
                    let (fan_in, fan_out) = (size[1] * receptive, size[0] * receptive);
                    let var = match init {
                        Init::Glorot => 2.0 / (fan_in + fan_out) as f64,
                        Init::Kaiming => 2.0 / fan_in as f64,
                    };
                    let draw = Tensor::randn(size.as_slice(), (t.kind(), t.device())) * var.sqrt();
                    t.copy_(&draw);
                } else if name.ends_with(".bias") {
                    let _ = t.zero_();
                }
            }
        });
    }

    /// Logits for a batch `xs` of shape $[B, C, H, W]$.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_with(xs, train, None)
    }

    /// Logits with the prunable weights replaced by `weights` (in the order of
    /// [`Network::prunable`]) when given: a differentiable reparametrization such as
    /// $w \odot \sigma(\beta s)$ or a supermask over frozen weights goes through here, and the
    /// gradient reaches whatever `weights` was computed from. Biases and batch norm are the
    /// network's own.
    pub fn forward_with(&self, xs: &Tensor, train: bool, weights: Option<&[Tensor]>) -> Tensor {
        self.forward_tapped(xs, train, weights, None)
    }

    /// The inputs of prunable op `layer` (in the order of [`Network::prunable`]) on the batch
    /// `xs`, as the matrix $X$ whose rows the op's flattened weight multiplies: the activations
    /// ($B \times d$) for a linear layer, the im2col patches ($B L \times C k_h k_w$, columns in
    /// the order of `weight.flatten(1)`) for a convolution. Evaluation mode (batch norm uses its
    /// running statistics); the current weights, or `weights` when given.
    pub fn layer_input(
        &self,
        xs: &Tensor,
        layer: usize,
        weights: Option<&[Tensor]>,
    ) -> Result<Tensor> {
        if layer >= self.prunable.len() {
            return Err(crate::Error::param(
                "layer",
                format!(
                    "{layer} out of range ({} prunable layers)",
                    self.prunable.len()
                ),
            ));
        }
        let tap = std::cell::RefCell::new(None);
        let _ = tch::no_grad(|| self.forward_tapped(xs, false, weights, Some((layer, &tap))));
        let captured = tap.into_inner();
        captured.ok_or_else(|| {
            crate::Error::Numerical(format!("layer {layer} was not reached by the forward pass"))
        })
    }

    fn forward_tapped(
        &self,
        xs: &Tensor,
        train: bool,
        weights: Option<&[Tensor]>,
        tap: Option<(usize, &std::cell::RefCell<Option<Tensor>>)>,
    ) -> Tensor {
        let next = std::cell::Cell::new(0usize);
        // Hands out the weight of the next prunable op and, when it is the tapped one, records
        // its input (a conv's as im2col patches of its kernel, stride and padding).
        let w = |own: &Tensor, h: &Tensor, conv: Option<([i64; 2], [i64; 2])>| -> Tensor {
            let i = next.get();
            next.set(i + 1);
            if let Some((target, cell)) = tap {
                if target == i {
                    let x = match conv {
                        None => h.flatten(1, -1),
                        Some((stride, padding)) => {
                            let size = own.size();
                            let patches = h.im2col([size[2], size[3]], [1, 1], padding, stride);
                            // [B, C·kh·kw, L] → [B·L, C·kh·kw]
                            patches
                                .transpose(1, 2)
                                .reshape([-1, size[1] * size[2] * size[3]])
                        }
                    };
                    *cell.borrow_mut() = Some(x);
                }
            }
            match weights {
                Some(ws) => ws[i].shallow_clone(),
                None => own.shallow_clone(),
            }
        };
        let lin = |h: &Tensor, l: &nn::Linear| h.linear(&w(&l.ws, h, None), l.bs.as_ref());
        let cv = |h: &Tensor, c: &Cv| {
            let stride = [c.stride, c.stride];
            let padding = [c.padding, c.padding];
            h.conv2d(
                &w(&c.conv.ws, h, Some((stride, padding))),
                c.conv.bs.as_ref(),
                stride,
                padding,
                [1, 1],
                1,
            )
        };
        let mlp = |mut h: Tensor, layers: &[nn::Linear]| {
            for (i, l) in layers.iter().enumerate() {
                h = lin(&h, l);
                if i + 1 < layers.len() {
                    h = h.relu();
                }
            }
            h
        };
        match &self.body {
            Body::Mlp(layers) => mlp(xs.flatten(1, -1), layers),
            Body::Conv { convs, fcs } => {
                let mut h = xs.shallow_clone();
                for stage in convs {
                    for c in stage {
                        h = cv(&h, c).relu();
                    }
                    h = h.max_pool2d_default(2);
                }
                mlp(h.flatten(1, -1), fcs)
            }
            Body::Vgg { layers, fc } => {
                let mut h = xs.shallow_clone();
                for l in layers {
                    h = match l {
                        Some((c, b)) => cv(&h, c).apply_t(b, train).relu(),
                        None if h.size()[2] >= 2 => h.max_pool2d_default(2),
                        None => h,
                    };
                }
                lin(&h.adaptive_avg_pool2d([1, 1]).flatten(1, -1), fc)
            }
            Body::Conv1d { convs, fc } => {
                let mut h = xs.shallow_clone();
                for c in convs {
                    let wt = w(&c.ws, &h, Some(([1, 2], [0, 1])));
                    h = h
                        .conv2d(&wt, c.bs.as_ref(), [1, 2], [0, 1], [1, 1], 1)
                        .relu();
                }
                lin(&h.flatten(1, -1), fc)
            }
            Body::Resnet { stem, blocks, fc } => {
                let mut h = cv(xs, &stem.0).apply_t(&stem.1, train).relu();
                for b in blocks {
                    let y = cv(&h, &b.c1).apply_t(&b.b1, train).relu();
                    let y = cv(&y, &b.c2).apply_t(&b.b2, train);
                    let s = match &b.shortcut {
                        Some((c, bn)) => cv(&h, c).apply_t(bn, train),
                        None => h.shallow_clone(),
                    };
                    h = (y + s).relu();
                }
                lin(&h.adaptive_avg_pool2d([1, 1]).flatten(1, -1), fc)
            }
        }
    }

    /// Batch-norm scale tensors (`…bn….weight`) by the prunable conv weight whose output channels
    /// they scale, in the order of [`Network::prunable`] (network slimming's channel scores).
    pub fn channel_scales(&self) -> Vec<(String, String)> {
        let pair = |c: &str| -> Option<(String, String)> {
            let bn = if c == "conv.weight" {
                "bn.weight".to_string()
            } else if let Some(idx) = c
                .strip_prefix("conv")
                .and_then(|r| r.strip_suffix(".weight"))
            {
                format!("bn{idx}.weight")
            } else if let Some(p) = c.strip_suffix(".conv1.weight") {
                format!("{p}.bn1.weight")
            } else if let Some(p) = c.strip_suffix(".conv2.weight") {
                format!("{p}.bn2.weight")
            } else if let Some(p) = c.strip_suffix(".shortcut.weight") {
                format!("{p}.shortcut_bn.weight")
            } else {
                return None;
            };
            Some((c.to_string(), bn))
        };
        match self.body {
            Body::Vgg { .. } | Body::Resnet { .. } => {
                self.prunable.iter().filter_map(|c| pair(c)).collect()
            }
            _ => vec![],
        }
    }

    /// The loss, and the number of correct predictions, with optional replacement weights (see
    /// [`Network::forward_with`]); the loss is [`loss_of`] (cross-entropy on labels, squared
    /// error on real-valued targets).
    pub fn loss_and_correct_with(
        &self,
        xs: &Tensor,
        ys: &Tensor,
        train: bool,
        weights: Option<&[Tensor]>,
    ) -> (Tensor, i64) {
        let logits = self.forward_with(xs, train, weights);
        let loss = loss_of(&logits, ys);
        let labels = if regression(ys) {
            ys.argmax(-1, false)
        } else {
            ys.shallow_clone()
        };
        let correct = logits
            .argmax(-1, false)
            .eq_tensor(&labels)
            .sum(Kind::Int64)
            .int64_value(&[]);
        (loss, correct)
    }

    /// Mean cross-entropy and the number of correct predictions on a batch.
    pub fn loss_and_correct(&self, xs: &Tensor, ys: &Tensor, train: bool) -> (Tensor, i64) {
        self.loss_and_correct_with(xs, ys, train, None)
    }
}

/// Whether `ys` holds real-valued targets (one row per sample) rather than labels.
pub fn regression(ys: &Tensor) -> bool {
    ys.dim() == 2 && matches!(ys.kind(), Kind::Float | Kind::Double)
}

/// The training loss of `logits` against `ys`: mean cross-entropy for labels, mean squared
/// error (over samples and outputs) for real-valued targets. A prediction counts as correct when
/// its argmax is the label, or the argmax of the target row.
pub fn loss_of(logits: &Tensor, ys: &Tensor) -> Tensor {
    if regression(ys) {
        logits.mse_loss(ys, tch::Reduction::Mean)
    } else {
        logits.cross_entropy_for_logits(ys)
    }
}

impl ModuleT for Network {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        Network::forward_t(self, xs, train)
    }
}

/// Mean loss and accuracy of `net` on a split, in batches of 1000.
pub fn evaluate(net: &Network, split: &(Tensor, Tensor)) -> (f64, f64) {
    evaluate_with(net, split, None)
}

/// [`evaluate`] with replacement prunable weights (see [`Network::forward_with`]).
pub fn evaluate_with(
    net: &Network,
    split: &(Tensor, Tensor),
    weights: Option<&[Tensor]>,
) -> (f64, f64) {
    tch::no_grad(|| {
        let n = split.1.size()[0];
        let (mut loss, mut correct) = (0.0, 0i64);
        let mut i = 0;
        while i < n {
            let b = (n - i).min(1000);
            let (l, c) = net.loss_and_correct_with(
                &split.0.narrow(0, i, b),
                &split.1.narrow(0, i, b),
                false,
                weights,
            );
            loss += l.double_value(&[]) * b as f64;
            correct += c;
            i += b;
        }
        (loss / n as f64, correct as f64 / n as f64)
    })
}
