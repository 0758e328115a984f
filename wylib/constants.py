"""Constants of the study, each defined once: the paper's stability threshold and the fixed category lists."""

from __future__ import annotations

STABILITY_THRESHOLD = 0.08  # eV/atom: E_hull at or below it is stable (MP-20's construction, the paper's S.U.N.)

SPACE_GROUPS: tuple[int, ...] = tuple(range(1, 231))  # categories of the corrected space-group chi^2

# The 89 elements with an elemental entry in the Materials Project (H to Pu without Po, At, Rn, Fr, Ra), MP-20's
# token vocabulary: the categories of the corrected element chi^2.
ELEMENTS: tuple[str, ...] = tuple(
    """
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr
Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir
Pt Au Hg Tl Pb Bi Ac Th Pa U Np Pu""".split()
)

BITERNARY = (2, 3)  # distinct elements per structure in the MP-20 binary & ternary benchmark
