"""The coefficients of the native GELU's erfc tail (native/kernels/activations.cpp, kErfcTail).

erfc(z) * exp(z^2) on [1, 6] as a degree-16 polynomial in u = (z - 3.5) / 2.5: a Chebyshev
least-squares fit on a dense grid, turned into monomial coefficients and rounded to float32. Prints
them lowest degree first with the largest relative error of float32 Horner evaluation on the grid
(about 2.2e-7: two float32 ulps). Run with any Python that has numpy.
"""
import math

import numpy as np
from numpy.polynomial import chebyshev

LO, HI, DEGREE = 1.0, 6.0, 16
z = np.linspace(LO, HI, 40001)
target = np.array([math.erfc(v) * math.exp(v * v) for v in z])
u = (z - (LO + HI) / 2) / ((HI - LO) / 2)
coefficients = chebyshev.cheb2poly(chebyshev.chebfit(u, target, DEGREE)).astype(np.float32)
u32 = u.astype(np.float32)
value = np.full_like(u32, coefficients[-1])
for c in coefficients[-2::-1]:
    value = (value * u32 + c).astype(np.float32)
print(", ".join("%.9ef" % c for c in coefficients))
print("max relative error of float32 Horner:", np.max(np.abs(value.astype(np.float64) - target) / target))
