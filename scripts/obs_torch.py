"""OBS backward elimination on a layer, written plainly in PyTorch (CPU, float64): the reference
the `layer_omp_vs_sklearn` bench times our OBS against (issue 12).

All rows at once, as OBC's reference code does: a stack of inverse Hessians (rows x d x d), at
every step the least salient active weight w_q^2 / [H^-1]_qq of each row is removed, the row's
other weights get the optimal update -(w_q / [H^-1]_qq) H^-1 e_q, and H^-1 the rank-one downdate.

usage: obs_torch.py H.npy W.npy K THREADS  ->  JSON {"seconds", "supports"} on stdout
"""

import json
import sys
import time

import numpy as np
import torch


def obs(h: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    rows, d = w.shape
    hinv = torch.linalg.inv(h).expand(rows, d, d).clone()
    w = w.clone()
    active = torch.ones(rows, d, dtype=torch.bool)
    idx = torch.arange(rows)
    for _ in range(d - k):
        diag = torch.diagonal(hinv, dim1=1, dim2=2)
        saliency = w * w / diag
        saliency[~active] = float("inf")
        q = torch.argmin(saliency, dim=1)
        hq = hinv[idx, :, q]  # rows x d: column q of each row's H^-1
        hqq = hq[idx, q]
        w -= (w[idx, q] / hqq)[:, None] * hq
        # In place: H^-1 <- H^-1 - (H^-1 e_q)(H^-1 e_q)^T / [H^-1]_qq, one batched product.
        hinv.baddbmm_(hq.unsqueeze(2), (hq / hqq[:, None]).unsqueeze(1), alpha=-1.0)
        # Row and column q of H^-1 are zero in exact arithmetic; make them so, or the removed
        # weights drift back by rounding at the next updates.
        hinv[idx, q, :] = 0.0
        hinv[idx, :, q] = 0.0
        w[idx, q] = 0.0
        active[idx, q] = False
    return w * active


def main() -> None:
    h = torch.from_numpy(np.load(sys.argv[1]))
    w = torch.from_numpy(np.load(sys.argv[2]))
    k = int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]))
    t = time.perf_counter()
    out = obs(h, w, k)
    seconds = time.perf_counter() - t
    supports = [[int(i) for i in torch.nonzero(out[r]).flatten()] for r in range(out.shape[0])]
    print(json.dumps({"seconds": seconds, "supports": supports, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
