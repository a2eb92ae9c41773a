function s = nanstd(x, flag, dim)
  % NANSTD  standard deviation ignoring NaN (MATLAB Statistics Toolbox behaviour); snapstamps
  % compatibility layer.  flag 0 (default) normalises by n-1, flag 1 by n; dim as in nanmean.
  if nargin < 2 || isempty(flag)
    flag = 0;
  end
  if nargin < 3
    dim = find(size(x) ~= 1, 1);
    if isempty(dim)
      dim = 1;
    end
  end
  keep = ~isnan(x);
  n = sum(keep, dim);
  m = nanmean(x, dim);
  d = x - m;
  d(~keep) = 0;
  ss = sum(d .^ 2, dim);
  if flag
    s = sqrt(ss ./ n);
  else
    s = sqrt(ss ./ max(n - 1, 1));
  end
  s(n == 0) = NaN;
end
