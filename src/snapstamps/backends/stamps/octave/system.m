function varargout = system(cmd, varargin)
  % SYSTEM  snapstamps Octave compatibility wrapper: runs the command through /bin/bash
  % (Octave uses /bin/sh, dash on Debian, which rejects csh/bash redirections such as '>&').
  wrapped = ['/bin/bash -c ''' strrep(cmd, '''', '''\''''') ''''];
  if nargout >= 2
    [status, output] = builtin('system', wrapped, varargin{:});
    varargout{1} = status;
    varargout{2} = output;
  else
    status = builtin('system', wrapped, varargin{:});
    if nargout == 1
      varargout{1} = status;
    end
  end
end
