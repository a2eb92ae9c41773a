function w = gausswin(L, a)
  % GAUSSWIN  Gaussian window of length L (column), exp(-1/2 (a n / ((L-1)/2))^2) for
  % n = -(L-1)/2 .. (L-1)/2; a defaults to 2.5.  snapstamps fallback, on the path only when
  % Octave's signal package cannot be loaded.
  if nargin < 2
    a = 2.5;
  end
  if L == 1
    w = 1;
    return;
  end
  n = (0:L-1)' - (L-1) / 2;
  w = exp(-0.5 * (a * n / ((L-1) / 2)) .^ 2);
end
