//! One masked LeNet-300-100 training step (batch 60, Adam, 80% of the weights pruned) in this
//! crate against the same loop in PyTorch (Python, from `.venv-torch`), in one run, on CPU.
//!
//! `scripts/with-torch cargo bench --features torch --bench train_step_vs_pytorch`
//! Prints seconds per step for both and the ratio (target: this crate ≥ 1.5× faster).

use std::process::Command;
use std::time::Instant;

use lottery::nn::models::{Arch, Init, Network};
use lottery::nn::optim::{Optimizer, OptimizerKind};
use lottery::nn::params::Params;
use lottery::select::{Budget, Random, Rule};
use lottery::space::SparseVector;
use tch::{nn, Device, Kind, Tensor};

const SCRIPT: &str = r#"
import sys, time, torch
import torch.nn as nn, torch.nn.functional as F
steps = int(sys.argv[1])
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
weights = [m.weight for m in model if isinstance(m, nn.Linear)]
masks = [(torch.rand_like(w) < 0.2).float() for w in weights]
with torch.no_grad():
    for w, m in zip(weights, masks):
        w.mul_(m)
opt = torch.optim.Adam(model.parameters(), lr=1.2e-3)
x = torch.randn(60, 1, 28, 28); y = torch.randint(0, 10, (60,))
def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for w, m in zip(weights, masks):
        w.grad.mul_(m)
    opt.step()
    with torch.no_grad():
        for w, m in zip(weights, masks):
            w.mul_(m)
for _ in range(50):
    step()
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    for _ in range(steps):
        step()
    best = min(best, (time.perf_counter() - t) / steps)
print(best, torch.get_num_threads())
"#;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let steps = 300;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs, Arch::Lenet300, [1, 28, 28], 10, Init::Kaiming).unwrap();
    let vars = vs.variables();
    let mut names: Vec<String> = vars.keys().cloned().collect();
    names.sort();
    let mut all: Vec<Tensor> = names.iter().map(|n| vars[n].shallow_clone()).collect();
    let mut prunable = Params::new(
        net.prunable.clone(),
        net.prunable
            .iter()
            .map(|n| vars[n].shallow_clone())
            .collect(),
    );
    let mask = Random { seed: 1 }
        .select(
            &prunable.to_scores(),
            &Budget::PerGroupDensity(vec![0.2; 3]),
        )
        .unwrap();
    prunable.apply_mask(&mask);
    let masks: Vec<Option<Tensor>> = names
        .iter()
        .map(|n| {
            prunable
                .names
                .iter()
                .position(|p| p == n)
                .map(|g| prunable.mask_tensor(&mask, g))
        })
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0, &all);
    let xs = Tensor::randn([60, 1, 28, 28], (Kind::Float, Device::Cpu));
    let ys = Tensor::randint(10, [60], (Kind::Int64, Device::Cpu));
    let mut step = || {
        for t in all.iter_mut() {
            t.zero_grad();
        }
        let (loss, _) = net.loss_and_correct(&xs, &ys, true);
        loss.backward();
        opt.step(&mut all, &masks, 1.2e-3);
    };
    for _ in 0..50 {
        step();
    }
    let mut ours = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..steps {
            step();
        }
        ours = ours.min(t.elapsed().as_secs_f64() / steps as f64);
    }
    let py = std::env::var("VIRTUAL_ENV")
        .map(|v| format!("{v}/bin/python"))
        .unwrap_or_else(|_| "python3".into());
    let out = Command::new(py)
        .args(["-c", SCRIPT, &steps.to_string()])
        .output()
        .expect("python with torch (run through scripts/with-torch)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let theirs: f64 = it.next().unwrap().parse().unwrap();
    let threads = it.next().unwrap_or("?");
    println!("masked LeNet-300-100 step, batch 60, Adam, CPU (best of 5 × {steps} steps)");
    println!(
        "lottery (tch):   {:.1} µs/step  (libtorch threads {})",
        ours * 1e6,
        tch::get_num_threads()
    );
    println!(
        "PyTorch (Python): {:.1} µs/step  (threads {threads})",
        theirs * 1e6
    );
    println!(
        "speed-up PyTorch / lottery = {:.2}   (target ≥ 1.5)",
        theirs / ours
    );
}
