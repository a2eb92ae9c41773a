function varargout = version(varargin)
  % VERSION  snapstamps Octave compatibility wrapper: version('-release') returns a
  % MATLAB-like release ('2018a') instead of Octave's empty string, so that code testing
  % str2num(version('-release')(1:4)) takes its modern branch.  Other calls go to the built-in.
  if nargin >= 1 && ischar(varargin{1}) && strcmpi(varargin{1}, '-release')
    varargout{1} = '2018a';
    return;
  end
  [varargout{1:max(nargout, 1)}] = builtin('version', varargin{:});
end
