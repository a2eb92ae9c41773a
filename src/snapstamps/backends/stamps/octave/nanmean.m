function m = nanmean(x, dim)
  % NANMEAN  mean ignoring NaN (MATLAB Statistics Toolbox behaviour); snapstamps compatibility layer.
  %   nanmean(x) works along the first non-singleton dimension; nanmean(x, dim) along dim.
  %   A slice with no finite-or-infinite value (all NaN) gives NaN.
  if nargin < 2
    dim = find(size(x) ~= 1, 1);
    if isempty(dim)
      dim = 1;
    end
  end
  keep = ~isnan(x);
  x(~keep) = 0;
  n = sum(keep, dim);
  m = sum(x, dim) ./ n;
  m(n == 0) = NaN;
end
