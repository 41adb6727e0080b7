//! What a ticket buys at inference: CPU time of one forward pass of an exported sparse network
//! (`lottery export`, [`lottery::nn::export::Mlp`]) against the same network dense, in one
//! process, at 90/95/98% sparsity. Two kinds of sparsity:
//!
//! * unstructured (a random mask per layer, the output layer included), stored as CSR and run
//!   with libtorch's sparse CSR × dense product;
//! * channel (whole hidden units removed, the same fraction of each hidden layer), stored dense
//!   with the units physically removed ([`lottery::nn::export::shrink_chain`]).
//!
//! Shapes: LeNet-300-100 and a wide MLP 784-2048-2048-10; batches of 1 and 256; one thread.
//!
//! `scripts/with-torch cargo bench --features torch --bench export_speed`
//! Prints milliseconds per forward pass and the speed-up (dense time / sparse time; < 1 means
//! the sparse form is slower).

use std::time::Instant;

use lottery::nn::export::{csr_parts, shrink_chain, Format, Mlp};
use tch::{Device, Kind, Tensor};

fn layers(widths: &[i64]) -> Vec<(String, Tensor)> {
    let mut named = vec![];
    for (l, w) in widths.windows(2).enumerate() {
        let scale = (2.0 / w[0] as f64).sqrt();
        named.push((
            format!("fc{}.weight", l + 1),
            Tensor::randn([w[1], w[0]], (Kind::Float, Device::Cpu)) * scale,
        ));
        named.push((
            format!("fc{}.bias", l + 1),
            Tensor::randn([w[1]], (Kind::Float, Device::Cpu)) * 0.01,
        ));
    }
    named
}

fn chain(widths: &[i64]) -> Vec<String> {
    (1..widths.len()).map(|l| format!("fc{l}")).collect()
}

/// Seconds per forward pass: the best of 5 rounds of `reps` passes.
fn time(model: &Mlp, x: &Tensor, reps: usize) -> f64 {
    for _ in 0..reps.min(20) {
        let _ = model.forward(x);
    }
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                let _ = model.forward(x);
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    tch::set_num_threads(1);
    tch::manual_seed(0);
    println!(
        "network, batch, sparsity, dense ms, csr ms, csr speed-up, channel ms, channel speed-up"
    );
    for widths in [vec![784i64, 300, 100, 10], vec![784, 2048, 2048, 10]] {
        let name = widths
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join("-");
        let dense = layers(&widths);
        let names = chain(&widths);
        let dense_model = Mlp::from_named(&dense, &names, Format::Dense).unwrap();
        for batch in [1i64, 256] {
            let x = Tensor::randn([batch, widths[0]], (Kind::Float, Device::Cpu));
            let reps = if batch == 1 { 2000 } else { 50 };
            let t_dense = time(&dense_model, &x, reps);
            for s in [0.9, 0.95, 0.98] {
                // Unstructured: a random mask per weight, stored as CSR.
                let csr: Vec<(String, Tensor)> = dense
                    .iter()
                    .flat_map(|(n, t)| {
                        if n.ends_with(".weight") {
                            let m = Tensor::rand(t.size(), (Kind::Float, Device::Cpu)).ge(s);
                            csr_parts(n, &(t * m.to_kind(Kind::Float)))
                        } else {
                            vec![(n.clone(), t.shallow_clone())]
                        }
                    })
                    .collect();
                let csr_model = Mlp::from_named(&csr, &names, Format::Csr).unwrap();
                let t_csr = time(&csr_model, &x, reps);
                // Channel: the same fraction of each hidden layer's units removed, then shrunk.
                let mut ch: Vec<(String, Tensor)> =
                    dense.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
                for (l, w) in widths[1..widths.len() - 1].iter().enumerate() {
                    let keep = ((1.0 - s) * *w as f64).round().max(1.0) as i64;
                    let rows = Tensor::ones([*w, 1], (Kind::Float, Device::Cpu));
                    let _ = rows.narrow(0, keep, *w - keep).fill_(0.0);
                    let key = format!("fc{}.weight", l + 1);
                    let t = ch
                        .iter()
                        .find(|(n, _)| *n == key)
                        .unwrap()
                        .1
                        .shallow_clone();
                    let pruned = &t * &rows;
                    ch.iter_mut().find(|(n, _)| *n == key).unwrap().1 = pruned;
                }
                shrink_chain(&mut ch, &names).unwrap();
                let ch_model = Mlp::from_named(&ch, &names, Format::Dense).unwrap();
                let t_ch = time(&ch_model, &x, reps);
                println!(
                    "{name}, {batch}, {s}, {:.4}, {:.4}, {:.2}, {:.4}, {:.2}",
                    1e3 * t_dense,
                    1e3 * t_csr,
                    t_dense / t_csr,
                    1e3 * t_ch,
                    t_dense / t_ch
                );
            }
        }
    }
}
